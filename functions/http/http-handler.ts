import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { logger } from '../observability.ts';
import { HandlerTimeoutError, problemFor, problemResponse } from './problem.ts';

export type ApiHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

/** Time kept back from the function's timeout to answer 503 before Lambda cuts it off. */
export const TIMEOUT_MARGIN_MS = 500;

/** The one middy stack for HTTP routes: context (and the trace id) in logs, and errors as problem+json. */
export const httpHandler = (fn: ApiHandler) =>
  middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>(fn, {
    timeoutEarlyInMillis: TIMEOUT_MARGIN_MS,
    timeoutEarlyResponse: () => {
      throw new HandlerTimeoutError();
    },
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      onError: async (request) => {
        const problem = problemFor(request.error);
        if (problem.status >= 500) {
          logger.error('request failed', { routeKey: request.event.routeKey, error: request.error });
        } else {
          logger.info('request refused', { routeKey: request.event.routeKey, problem: problem.type, field: problem.field });
        }
        request.response = problemResponse(problem);
      },
    });
