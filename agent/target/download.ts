import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { pipeline as pipelineStreams, type Readable, Transform } from 'node:stream';
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

/** Fails the stream at the first byte past `size`: a download never goes beyond what the manifest names. */
const stopAt = (size: number) => {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.byteLength;
      if (seen > size) done(tooLong(size));
      else done(null, chunk);
    },
  });
};

const tooLong = (size: number) =>
  new RequestRefused('IntegrityCheckFailed', `the release file is refused: it is longer than the ${size} bytes its manifest names (the download was stopped there); nothing was installed`);

/**
 * Whether `url` is under `origin`, the releases bucket's URL prefix the backend named when this
 * agent opened its session (scheme, host and port, and the bucket's path where buckets are
 * addressed by path). Compared after URL parsing, which resolves `..` and percent-encoded dots.
 */
export const underOrigin = (url: string, origin: string) => {
  let target: URL;
  let allowed: URL;
  try {
    target = new URL(url);
    allowed = new URL(origin);
  } catch {
    return false;
  }
  const base = allowed.pathname.endsWith('/') ? allowed.pathname : `${allowed.pathname}/`;
  return target.protocol === allowed.protocol && target.host === allowed.host && !target.username && !target.password && target.pathname.startsWith(base);
};

/**
 * The release object as a stream, at most `size` bytes, with progress; a refusal if it cannot be
 * had. The URL must be under the releases origin this agent learned at session time: any other
 * (the machine's own network, a metadata service) is refused before a connection is made, and
 * redirects are not followed.
 */
export const openDownload = async (
  url: string,
  options: { origin: string | undefined; size: number; log: Logger; fields: Record<string, string> },
): Promise<Readable> => {
  const { origin, size, log, fields } = options;
  if (!origin) throw new RequestRefused('DownloadRefused', 'the backend named no releases origin when this agent opened its session, so no download is allowed; nothing was installed');
  if (!underOrigin(url, origin)) {
    const shown = URL.canParse(url) ? new URL(url).origin : 'a malformed URL';
    log.warn('audit: release download refused, not at the releases origin', { ...fields, origin });
    throw new RequestRefused('DownloadRefused', `the release URL names ${shown}, not the releases bucket ${origin} this agent learned at session time; nothing was downloaded or installed`);
  }
  log.debug('download started', { ...fields, total: size });
  const response = await get(url).catch((error: unknown) => {
    throw new RequestRefused('DownloadFailed', `the release could not be downloaded (${(error as Error).message})`);
  });
  // A redirect is an answer like any other that is not 200: never followed.
  if (response.statusCode !== 200) {
    response.resume();
    throw new RequestRefused('DownloadFailed', `the release download answered HTTP ${response.statusCode}`);
  }
  // pipeline, not pipe: a stream that fails (past the size) destroys the others with its error, which the reader sees.
  return pipelineStreams(response, stopAt(size), progressMeter(size, log, fields), () => {});
};

/**
 * One GET on Node's http module, the answer as a Node stream. Not fetch: its body is a web stream
 * whose conversion back to a Node stream held a download below what the decrypter
 * and tar take (bench/reports/transfer.md).
 */
const get = async (url: string): Promise<IncomingMessage> => {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? (await import('node:https')).default : (await import('node:http')).default;
  return new Promise((resolve, reject) => {
    transport.get(target, { headers: { accept: '*/*' } }, resolve).once('error', reject);
  });
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
