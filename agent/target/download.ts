import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../log.ts';
import { RequestRefused } from '../handlers/types.ts';

/** A download logs its progress at every tenth of its size, by ids and byte counts only. */
const progressMeter = (total: number, log: Logger, fields: Record<string, string>) => {
  let seen = 0;
  let nextTenth = 1;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.byteLength;
      while (total > 0 && seen >= (total * nextTenth) / 10 && nextTenth <= 10) {
        log.info('download progress', { ...fields, percent: nextTenth * 10, bytes: seen, total });
        nextTenth += 1;
      }
      done(null, chunk);
    },
  });
};

/** The release object as a stream from its presigned URL, with progress; a refusal if it cannot be had. */
export const openDownload = async (url: string, size: number, log: Logger, fields: Record<string, string>): Promise<Readable> => {
  let response: Response;
  log.debug('download started', { ...fields, total: size });
  try {
    response = await fetch(url);
  } catch (error) {
    throw new RequestRefused('DownloadFailed', `the release could not be downloaded (${(error as Error).message})`);
  }
  if (!response.ok || !response.body) throw new RequestRefused('DownloadFailed', `the release download answered HTTP ${response.status}`);
  return Readable.fromWeb(response.body as never).pipe(progressMeter(size, log, fields));
};

/** A plain release: written to `path` while hashed; the caller compares the digest with the manifest. */
export const downloadToFile = async (stream: Readable, path: string) => {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(
    stream,
    new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        size += chunk.byteLength;
        done(null, chunk);
      },
    }),
    createWriteStream(path, { mode: 0o600 }),
  );
  return { sha256: hash.digest(), size };
};
