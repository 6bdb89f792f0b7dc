import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, NotFound, PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ReleaseObjects } from '#shared/ports/release-store.ts';

export const s3ReleaseObjects = (s3: S3Client, bucket: string): ReleaseObjects => ({
  // The signed Content-Length pins the upload to the announced size.
  presignPut: (key, size, expiresIn) =>
    getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: key, ContentLength: size }), { expiresIn }),
  presignGet: (key, expiresIn) => getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn }),
  startMultipart: async (key) => (await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))).UploadId!,
  presignPart: (key, uploadId, partNumber, expiresIn) =>
    getSignedUrl(s3, new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber }), { expiresIn }),
  completeMultipart: async (key, uploadId, parts) => {
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
      }),
    );
  },
  sizeOf: async (key) => {
    try {
      return (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength ?? 0;
    } catch (error) {
      if (error instanceof NotFound || (error as { name?: string }).name === 'NotFound') return undefined;
      throw error;
    }
  },
});

/**
 * The URL prefix every presigned GET of `bucket` starts with: the origin, and the bucket's path
 * where buckets are addressed by path (the local stack). Read off a presigned URL, so it is what
 * the deploy step's URLs are, whatever endpoint rules the SDK applies. Agents download from
 * nowhere else (DESIGN §6).
 */
export const releasesOrigin = async (s3: S3Client, bucket: string) => {
  const probe = 'latchkey-origin-probe';
  const url = new URL(await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: probe }), { expiresIn: 60 }));
  return `${url.origin}${url.pathname.slice(0, -probe.length)}`;
};
