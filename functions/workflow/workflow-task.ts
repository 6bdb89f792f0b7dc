import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { logger } from '../observability.ts';

/** The one middy stack for workflow tasks: the input is validated; a failure fails the task. */
export const workflowTask = <S extends z.ZodType, R>(schema: S, run: (input: z.infer<S>) => Promise<R>) =>
  middy<unknown, R, Error, Context>(async (event: unknown) => run(schema.parse(event)))
    .use(injectLambdaContext(logger, { resetKeys: true }));
