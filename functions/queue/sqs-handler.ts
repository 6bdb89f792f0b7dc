import middy from '@middy/core';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { logger } from '../observability.ts';

export type RecordHandler = (record: SQSRecord) => Promise<void>;

/**
 * The one middy stack for SQS consumers. A record whose handler throws is reported as a batch
 * item failure, so only it is retried (and after maxReceiveCount it lands in the DLQ); the
 * others are deleted. Handlers must be idempotent: SQS delivers at least once.
 */
export const sqsHandler = (recordHandler: RecordHandler) => {
  const processor = new BatchProcessor(EventType.SQS);
  const consume = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, recordHandler, processor, { context, throwOnFullBatchFailure: false });
  return middy<SQSEvent, SQSBatchResponse, Error, Context>(consume)
    .use(injectLambdaContext(logger, { resetKeys: true }));
};
