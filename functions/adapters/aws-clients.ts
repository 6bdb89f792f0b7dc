import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { SESv2Client } from '@aws-sdk/client-sesv2';
import { buckets } from '../resources.ts';

// One client per service per process, created on first use and kept for every invocation.
// Endpoints come from the SDK's own AWS_ENDPOINT_URL_<SERVICE> variables, which the local
// stack sets; in the cloud they are unset and the SDK resolves the regional endpoints.
let documentClient: DynamoDBDocumentClient | undefined;
let sfnClient: SFNClient | undefined;
let s3Client: S3Client | undefined;
let sesClient: SESv2Client | undefined;

// The S3 SDK (with its presigner) and the SES client are large modules that most functions
// never use: a function loads each at cold start only when it is bound to the bucket or to mail
// (which it needs to use them at all), so functions without that binding do not parse them.
// Each name is read from its import on its own: the layer keeps only the names so read.
const mailBinding = 'MAIL_FROM';
/** What the release objects adapter uses of the S3 SDK. */
export const loadS3Sdk = async () => ({
  S3Client: (await import('@aws-sdk/client-s3')).S3Client,
  CompleteMultipartUploadCommand: (await import('@aws-sdk/client-s3')).CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand: (await import('@aws-sdk/client-s3')).CreateMultipartUploadCommand,
  GetObjectCommand: (await import('@aws-sdk/client-s3')).GetObjectCommand,
  HeadObjectCommand: (await import('@aws-sdk/client-s3')).HeadObjectCommand,
  PutObjectCommand: (await import('@aws-sdk/client-s3')).PutObjectCommand,
  UploadPartCommand: (await import('@aws-sdk/client-s3')).UploadPartCommand,
  NoSuchUpload: (await import('@aws-sdk/client-s3')).NoSuchUpload,
  NotFound: (await import('@aws-sdk/client-s3')).NotFound,
  // The presigner (a fifth of the S3 SDK's load) only where a URL is signed, on first use: the
  // functions that check or complete uploads never sign one.
  getSignedUrl: (async (client, command, options) =>
    (await import('@aws-sdk/s3-request-presigner')).getSignedUrl(client, command, options)) as typeof import('@aws-sdk/s3-request-presigner').getSignedUrl,
});
export type S3Sdk = Awaited<ReturnType<typeof loadS3Sdk>>;
const loadSes = async () => (await import('@aws-sdk/client-sesv2')).SESv2Client;
const S3 = process.env[buckets.releases.envVar] ? await loadS3Sdk() : undefined;
const SES = process.env[mailBinding] ? await loadSes() : undefined;

const unbound = (variable: string): never => {
  throw new Error(`Missing environment variable ${variable}: the function is not bound to it`);
};

export const dynamo = (): DynamoDBDocumentClient =>
  (documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  }));

export const sfn = (): SFNClient => (sfnClient ??= new SFNClient({}));

/**
 * The S3 client's settings. Emulators serve buckets by path; in the cloud, virtual-hosted
 * addressing is the default. Checksums only where S3 requires them: by default the SDK signs a
 * CRC32 of the request body into presigned PUT and UploadPart URLs, and a URL signed before the
 * body exists carries the CRC32 of an empty body, which S3 then refuses for the real upload.
 */
export const s3ClientConfig = () =>
  ({
    forcePathStyle: process.env.LATCHKEY_S3_FORCE_PATH_STYLE === 'true',
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  }) as const;

export const s3Sdk = (): S3Sdk => S3 ?? unbound(buckets.releases.envVar);

export const s3 = (): S3Client => (s3Client ??= new (s3Sdk().S3Client)(s3ClientConfig()));

export const ses = (): SESv2Client => (sesClient ??= new (SES ?? unbound(mailBinding))({}));
