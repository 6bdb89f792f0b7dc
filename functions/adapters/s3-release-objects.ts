import type { S3Client } from '@aws-sdk/client-s3';
import type { ReleaseObjects } from '#shared/ports/release-store.ts';
import type { S3Sdk } from './aws-clients.ts';

/** Release objects in the bucket; `sdk` is the S3 SDK, loaded only by functions bound to the bucket (aws-clients.ts). */
export const s3ReleaseObjects = (s3: S3Client, bucket: string, sdk: S3Sdk): ReleaseObjects => {
  const { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, NoSuchUpload, NotFound, PutObjectCommand, UploadPartCommand, getSignedUrl } = sdk;

  /** The size of an object, or undefined if there is none (404: the functions may list the bucket, so S3 does not answer 403). */
  const headSize = async (key: string): Promise<number | undefined> => {
    try {
      return (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength ?? 0;
    } catch (error) {
      if (error instanceof NotFound || (error as { name?: string }).name === 'NotFound') return undefined;
      throw error;
    }
  };

  return {
    // The signed Content-Length pins the upload to the announced size.
    presignPut: (key, size, expiresIn) =>
      getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: key, ContentLength: size }), { expiresIn }),
    presignGet: (key, expiresIn) => getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn }),
    startMultipart: async (key) => (await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))).UploadId!,
    presignPart: (key, uploadId, partNumber, expiresIn) =>
      getSignedUrl(s3, new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber }), { expiresIn }),
    completeMultipart: async (key, uploadId, parts) => {
      try {
        await s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
          }),
        );
      } catch (error) {
        // Completed already (a retry after a timeout, or two racing completes): the upload is
        // gone and the object is there, which the caller then checks for its size.
        if (!(error instanceof NoSuchUpload || (error as { name?: string }).name === 'NoSuchUpload')) throw error;
        if ((await headSize(key)) === undefined) throw error;
      }
    },
    sizeOf: (key) => headSize(key),
    // A read and a write rather than CopyObject: the object is at most one part (8 MiB), and the
    // local emulator has no CopyObject.
    copySmall: async (from, to, size) => {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: from }));
      const body = Buffer.from(await object.Body!.transformToByteArray());
      if (body.byteLength !== size) throw new Error(`staged upload ${from} has ${body.byteLength} bytes, not ${size}`);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: to, Body: body, ContentLength: size }));
    },
  };
};

/**
 * The URL prefix every presigned GET of `bucket` starts with: the origin, and the bucket's path
 * where buckets are addressed by path (the local stack). Read off a presigned URL, so it is what
 * the deploy step's URLs are, whatever endpoint rules the SDK applies. Agents download from
 * nowhere else (DESIGN §6).
 */
export const releasesOrigin = async (s3: S3Client, bucket: string, sdk: S3Sdk) => {
  const probe = 'latchkey-origin-probe';
  const url = new URL(await sdk.getSignedUrl(s3, new sdk.GetObjectCommand({ Bucket: bucket, Key: probe }), { expiresIn: 60 }));
  return `${url.origin}${url.pathname.slice(0, -probe.length)}`;
};
