import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import type { ArchiveCodec } from '#shared/crypto/manifest.ts';
import { RequestRefused } from '../handlers/types.ts';
import { globToRegExp, matchesAny } from './glob.ts';
import { MANIFEST_FILE } from './latchkey-yml.ts';

/** latchkey.yml is small (three scripts of at most 64 KiB each and their variables). */
const MAX_MANIFEST_BYTES = 256 * 1024;

export type ArchiveEntry = { path: string; type: string };

/** A member name as GNU tar writes it to disk: no leading `/`, no `.` segments, no trailing `/`. */
export const entryPath = (name: string) =>
  posix
    .normalize(`/${name}`)
    .replace(/^\/+/, '')
    .replace(/\/+$/, '');

/**
 * What the agent reads of a verified archive, in its own process and without writing a byte to
 * disk: the member names, and the text of latchkey.yml (a regular file at the root; the last one
 * wins, as on disk). Extracting is release code's work, done as the release user (install.ts):
 * the agent never opens a file of the release tree, where a release could have put a symlink to
 * the agent's own state. `parser` takes the plain tar stream (beside the extraction, from the
 * same bytes); `result` is read once it has finished.
 */
export const archiveReader = () => {
  const entries: ArchiveEntry[] = [];
  let manifest: string | undefined;
  let problem: string | undefined;
  const read = (entry: ReadEntry) => {
    const path = entryPath(entry.path);
    entries.push({ path, type: entry.type });
    if (path !== MANIFEST_FILE) return;
    if (entry.type !== 'File') {
      problem = `${MANIFEST_FILE} is a ${entry.type}, not a file`;
      return;
    }
    if ((entry.size ?? 0) > MAX_MANIFEST_BYTES) {
      problem = `${MANIFEST_FILE} is larger than ${MAX_MANIFEST_BYTES} bytes`;
      return;
    }
    const chunks: Buffer[] = [];
    entry.on('data', (chunk: Buffer) => chunks.push(chunk));
    entry.on('end', () => {
      manifest = Buffer.concat(chunks).toString('utf8');
    });
  };
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry) => {
      read(entry);
      entry.resume();
    },
  });
  const result = (): { entries: ArchiveEntry[]; manifest?: string } => {
    if (problem) throw new RequestRefused('ManifestInvalid', problem);
    return { entries, ...(manifest === undefined ? {} : { manifest }) };
  };
  return { parser, result };
};

export const unreadable = (error: unknown) => new RequestRefused('UnpackFailed', `the release archive cannot be read (${(error as Error).message.slice(0, 200)})`);

/**
 * The members to delete once extracted, so that only what latchkey.yml includes stays (and
 * latchkey.yml itself): files no pattern matches, and directories that match none and hold
 * nothing kept. A path whose parent is deleted already is not named again.
 */
export const excludedPaths = (entries: readonly ArchiveEntry[], include: readonly string[]): string[] => {
  const patterns = include.map(globToRegExp);
  const kept = new Set<string>();
  const keep = (path: string) => {
    for (let at = path; at && at !== '.'; at = posix.dirname(at)) kept.add(at);
  };
  for (const { path } of entries) if (path === MANIFEST_FILE || matchesAny(path, patterns)) keep(path);
  const removed = new Set(entries.map((entry) => entry.path).filter((path) => path && !kept.has(path)));
  const underRemoved = (path: string) => {
    for (let at = posix.dirname(path); at !== '.'; at = posix.dirname(at)) if (removed.has(at)) return true;
    return false;
  };
  return [...removed].filter((path) => !underRemoved(path));
};

/**
 * The archive as a plain tar stream, for `tar -x` as the release user: decompressed here, as the
 * signed manifest's codec says (GNU tar has no brotli). A read, delivery or decompression error
 * ends the stream early, where tar would stop as if the archive ended: `failed` then names it,
 * and the extraction must be refused.
 */
export const tarOf = (source: Readable, codec: ArchiveCodec): { stream: Readable; failed: () => Error | undefined } => {
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  let failure: Error | undefined;
  const stop = (error: Error) => {
    failure ??= error;
    out.end();
  };
  source.once('error', stop);
  // 1 MiB out per call: zlib's default 16 KiB makes a thread-pool round trip per 16 KiB, which made it the stream's bottleneck (bench/transfer.ts).
  const zlibOptions = { chunkSize: 1024 * 1024 };
  const decompress = codec === 'tar+gzip' ? createGunzip(zlibOptions) : codec === 'tar+brotli' ? createBrotliDecompress(zlibOptions) : undefined;
  (decompress ? source.pipe(decompress.once('error', stop)) : source).pipe(out);
  return { stream: out, failed: () => failure };
};
