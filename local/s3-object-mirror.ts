import { createWriteStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import type { buildApp } from 'fauxqs';
import { MULTIPART_PART_BYTES } from '#shared/protocol/releases.ts';

type Fauxqs = ReturnType<typeof buildApp>;

export type ObjectChange = { kind: 'saved' | 'deleted'; bucket: string; key: string };

/**
 * The object an S3 request writes or deletes in one of `buckets` if it succeeds, if any (fauxqs
 * routes: PUT /:bucket/* puts or uploads a part, POST /:bucket/*?uploadId completes, DELETE
 * /:bucket/* deletes or aborts an upload).
 */
export const objectChangeOf = (request: { method: string; params: unknown; query: unknown }, buckets: ReadonlySet<string>): ObjectChange | undefined => {
  const { bucket, '*': key } = (request.params ?? {}) as { bucket?: string; '*'?: string };
  if (!bucket || !key || !buckets.has(bucket)) return undefined;
  const query = (request.query ?? {}) as Record<string, unknown>;
  const part = query.uploadId !== undefined;
  if (request.method === 'PUT' && !part) return { kind: 'saved', bucket, key };
  if (request.method === 'POST' && part) return { kind: 'saved', bucket, key };
  if (request.method === 'DELETE' && !part) return { kind: 'deleted', bucket, key };
  return undefined;
};

const restoreObject = async (s3: S3Client, bucket: string, key: string, file: string) => {
  const { size } = await stat(file);
  // fauxqs takes request bodies up to 11 MiB: larger objects go back in parts, as uploads do.
  if (size <= MULTIPART_PART_BYTES) {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(file) }));
    return;
  }
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const parts: { PartNumber: number; ETag: string }[] = [];
  const handle = await open(file);
  try {
    for (let offset = 0; offset < size; offset += MULTIPART_PART_BYTES) {
      const body = Buffer.alloc(Math.min(MULTIPART_PART_BYTES, size - offset));
      await handle.read(body, 0, body.length, offset);
      const PartNumber = parts.length + 1;
      const { ETag } = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber, Body: body }));
      parts.push({ PartNumber, ETag: ETag! });
    }
  } finally {
    await handle.close();
  }
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
};

/**
 * fauxqs keeps objects in memory and does not expose its store, so with --data the objects of
 * `buckets` are mirrored to files under `dir`: each object is written (to a temp file, then
 * renamed) before S3 answers the request that made it, so no acknowledged upload is lost even
 * if the process is killed; `restore` puts them back once the buckets exist again. Only the
 * bytes are kept: content type and user metadata come back as S3's defaults (ours set neither).
 * Multipart uploads still in progress at a restart are lost, as their parts are not objects.
 *
 * The hook is added here, so this must run before fauxqs listens.
 */
export const mirrorBucketObjects = (fauxqs: Fauxqs, dir: string, bucketNames: string[]) => {
  const buckets = new Set(bucketNames);
  const fileOf = (bucket: string, key: string) => path.join(dir, bucket, encodeURIComponent(key));
  let restoring = false;

  const keep = async (change: ObjectChange) => {
    const file = fileOf(change.bucket, change.key);
    if (change.kind === 'deleted') return rm(file, { force: true });
    const url = `/${change.bucket}/${change.key.split('/').map(encodeURIComponent).join('/')}`;
    // As a stream: a buffered answer would also be decoded to one string (slow, and too long for V8 past 512 MiB).
    const object = await fauxqs.inject({ method: 'GET', url, payloadAsStream: true });
    if (object.statusCode !== 200) throw new Error(`Could not read back ${url} to keep it: ${object.statusCode}`);
    await mkdir(path.dirname(file), { recursive: true });
    const temp = `${file}.${randomUUID()}.tmp`;
    await pipeline(object.stream(), createWriteStream(temp));
    await rename(temp, file);
  };

  // The answer to a successful write is held until the object is on disk. Only the handler's
  // first send counts: fauxqs's async handlers call reply.send and then resolve with nothing,
  // on which fastify sends again if the reply is not out yet, as it is not while held.
  fauxqs.addHook('preHandler', async (request, reply) => {
    const change = restoring ? undefined : objectChangeOf(request, buckets);
    if (!change) return;
    const send = reply.send.bind(reply);
    let held = false;
    reply.send = (payload?: unknown) => {
      if (held) return reply;
      if (reply.statusCode < 200 || reply.statusCode > 299) return send(payload);
      held = true;
      keep(change).then(
        () => send(payload),
        (error: unknown) => send(error),
      );
      return reply;
    };
  });

  return {
    /** Puts the kept objects back; returns how many. */
    restore: async (s3: S3Client): Promise<number> => {
      restoring = true;
      let restored = 0;
      try {
        for (const bucket of buckets) {
          const files = await readdir(path.join(dir, bucket)).catch(() => []);
          // A temp file is a write the process did not live to finish: its request was never answered.
          for (const name of files.filter((file) => !file.endsWith('.tmp'))) {
            await restoreObject(s3, bucket, decodeURIComponent(name), path.join(dir, bucket, name));
            restored += 1;
          }
        }
      } finally {
        restoring = false;
      }
      return restored;
    },
  };
};
