import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';

/** Plaintext or ciphertext input: a file path (fast path), a Node stream, or bytes in memory. */
export type ReleaseInput = string | Readable | Uint8Array;

/** Fills caller-owned buffers, so the hot loops never concatenate chunks. */
export interface ByteSource {
  /**
   * Reads until `buf` is full or the input ends; returns the byte count. Each call takes the
   * bytes after those of the call before it, even while that one is still in flight (files and
   * memory) — a stream must be read one call at a time (see `concurrent`).
   */
  readFull(buf: Buffer): Promise<number>;
  /** Whether several readFull calls may be in flight at once. */
  readonly concurrent: boolean;
  /**
   * A file: its descriptor, and `claim`, which takes the next `length` bytes' place in the file
   * (as readFull would) without reading them, so another thread can read them itself.
   */
  readonly file?: { fd: number; size: number; claim(length: number): number };
  /** Total size when known up front (files, memory), else undefined. */
  readonly size: number | undefined;
  close(): Promise<void>;
}

export const openSource = async (input: ReleaseInput): Promise<ByteSource> => {
  if (typeof input === 'string') return fileSource(await open(input, 'r'));
  if (input instanceof Uint8Array) return memorySource(input);
  return streamSource(input);
};

const fileSource = async (fh: FileHandle): Promise<ByteSource> => {
  const { size } = await fh.stat();
  let offset = 0;
  const claim = (length: number): number => {
    const at = offset;
    offset += length;
    return at;
  };
  return {
    size,
    concurrent: true,
    file: { fd: fh.fd, size, claim },
    async readFull(buf) {
      // The range is taken when the call is made, so reads in flight together cannot swap places.
      const at = claim(buf.byteLength);
      let filled = 0;
      while (filled < buf.byteLength) {
        const { bytesRead } = await fh.read(buf, filled, buf.byteLength - filled, at + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled;
    },
    close: () => fh.close(),
  };
};

const memorySource = (bytes: Uint8Array): ByteSource => {
  let offset = 0;
  return {
    size: bytes.byteLength,
    concurrent: true,
    async readFull(buf) {
      const n = Math.min(buf.byteLength, bytes.byteLength - offset);
      buf.set(bytes.subarray(offset, offset + n));
      offset += n;
      return n;
    },
    close: async () => {},
  };
};

const streamSource = (stream: Readable): ByteSource => {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  let pending: Buffer | undefined;
  let ended = false;
  return {
    size: undefined,
    concurrent: false,
    async readFull(buf) {
      let filled = 0;
      while (filled < buf.byteLength) {
        if (!pending || pending.byteLength === 0) {
          if (ended) break;
          const r = await it.next();
          if (r.done) {
            ended = true;
            break;
          }
          pending = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
          continue;
        }
        const n = Math.min(pending.byteLength, buf.byteLength - filled);
        pending.copy(buf, filled, 0, n);
        pending = pending.subarray(n);
        filled += n;
      }
      return filled;
    },
    async close() {
      if (!ended) await it.return?.();
    },
  };
};
