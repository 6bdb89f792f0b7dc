import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { tracer } from '../observability.ts';

// One client per service per process, created on first use and kept for every invocation.
// Endpoints come from the SDK's own AWS_ENDPOINT_URL_<SERVICE> variables, which the local
// stack sets; in the cloud they are unset and the SDK resolves the regional endpoints.
let documentClient: DynamoDBDocumentClient | undefined;
let sfnClient: SFNClient | undefined;
let s3Client: S3Client | undefined;
let sesClient: SESv2Client | undefined;

export const dynamo = (): DynamoDBDocumentClient =>
  (documentClient ??= DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), {
    marshallOptions: { removeUndefinedValues: true },
  }));

export const sfn = (): SFNClient => (sfnClient ??= tracer.captureAWSv3Client(new SFNClient({})));

// Emulators serve buckets by path; in the cloud, virtual-hosted addressing is the default.
export const s3 = (): S3Client =>
  (s3Client ??= tracer.captureAWSv3Client(new S3Client({ forcePathStyle: process.env.LATCHKEY_S3_FORCE_PATH_STYLE === 'true' })));

export const ses = (): SESv2Client => (sesClient ??= tracer.captureAWSv3Client(new SESv2Client({})));
