import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { loadS3Sdk, s3ClientConfig } from '#functions/adapters/aws-clients.ts';
import { s3ReleaseObjects } from '#functions/adapters/s3-release-objects.ts';

const objects = s3ReleaseObjects(
  new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }, ...s3ClientConfig() }),
  'releases-bucket',
  await loadS3Sdk(),
);

/** Query parameters of a presigned URL that would pin a checksum of a body the signer never saw. */
const checksumParams = (url: string) => [...new URL(url).searchParams.keys()].filter((name) => /checksum/i.test(name));

describe('presigned release URLs (issue 18)', () => {
  it('a single PUT signs the announced size and no checksum', async () => {
    const url = await objects.presignPut('acc/app/rel', 1234, 900);
    expect(checksumParams(url)).toEqual([]);
    expect(new URL(url).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;host');
  });

  it('an UploadPart URL signs no checksum', async () => {
    expect(checksumParams(await objects.presignPart('acc/app/rel', 'upload-1', 7, 900))).toEqual([]);
  });

  it('a GET asks for no checksum mode either (targets download with a plain GET)', async () => {
    expect(checksumParams(await objects.presignGet('acc/app/rel', 900))).toEqual([]);
  });
});
