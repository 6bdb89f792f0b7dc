/**
 * The plain way's upload for bench/transfer.ts, as `aws s3 cp - s3://BUCKET/KEY` does it: stdin
 * streamed into a multipart upload of 8 MiB parts, four in flight (the AWS CLI's defaults), with
 * the local stack's credentials. A single PUT would not do: the local S3 takes at most 11 MiB per
 * request, and S3 itself at most 5 GB. Args: endpoint region bucket key.
 */
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';

const [endpoint, region, Bucket, Key] = process.argv.slice(2) as [string, string, string, string];
const PART = 8 * 2 ** 20;
const IN_FLIGHT = 4;
const s3 = new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, requestChecksumCalculation: 'WHEN_REQUIRED' });

const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
const parts: { PartNumber: number; ETag: string }[] = [];
const inFlight = new Set<Promise<void>>();
const send = (PartNumber: number, Body: Buffer) => {
  const p = s3
    .send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body, ContentLength: Body.byteLength }))
    .then((answer) => void parts.push({ PartNumber, ETag: answer.ETag! }))
    .finally(() => inFlight.delete(p));
  inFlight.add(p);
};
let pending: Buffer[] = [];
let pendingBytes = 0;
let partNumber = 0;
for await (const chunk of process.stdin) {
  pending.push(chunk as Buffer);
  pendingBytes += (chunk as Buffer).byteLength;
  while (pendingBytes >= PART) {
    const all = Buffer.concat(pending);
    send(++partNumber, all.subarray(0, PART));
    pending = [all.subarray(PART)];
    pendingBytes = pending[0]!.byteLength;
    while (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
  }
}
if (pendingBytes > 0 || partNumber === 0) send(partNumber + 1, Buffer.concat(pending));
await Promise.all(inFlight);
parts.sort((a, b) => a.PartNumber - b.PartNumber);
await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
