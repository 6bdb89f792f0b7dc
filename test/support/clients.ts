import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { inject } from 'vitest';

/** Real SDK clients pointed at the local stack of this test run. */
export const localClients = () => {
  const endpoints = inject('endpoints');
  const base = { region: endpoints.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  return {
    endpoints,
    env: inject('stackEnv'),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({ ...base, endpoint: endpoints.dynamodb })),
    sqs: new SQSClient({ ...base, endpoint: endpoints.sqs }),
    s3: new S3Client({ ...base, endpoint: endpoints.s3, forcePathStyle: true }),
    sfn: new SFNClient({ ...base, endpoint: endpoints.stepFunctions }),
  };
};

/**
 * Polls until `probe` returns a value (not undefined), or fails with `what` at the deadline; the
 * pause between probes doubles from 20 ms up to `maxDelayMs`.
 */
export const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000, maxDelayMs = 250): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, maxDelayMs)) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
};
