import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';

/** Direct I/O moves whole blocks, at block-aligned offsets, from block-aligned memory; 4096 suits every common device. */
export const BLOCK = 4096;

/**
 * What both sinks share: the pipeline hands them chunks in block-aligned buffers, `begin` puts
 * the tail carried over from the previous chunk at the front of the next buffer, and `carryTail`
 * keeps the partial last block of a chunk back for the next one, answering the whole blocks' length.
 */
abstract class CarryingSink {
  protected readonly carry = Buffer.alloc(BLOCK);
  protected carried = 0;

  /** Starts a chunk in `buf`: copies the carried tail to its front; returns where new bytes go. */
  begin(buf: Buffer): number {
    const n = this.carry.copy(buf, 0, 0, this.carried);
    this.carried = 0;
    return n;
  }

  protected carryTail(buf: Buffer, end: number): number {
    const whole = end - (end % BLOCK);
    this.carried = buf.copy(this.carry, 0, whole, end);
    return whole;
  }
}

/**
 * A release's output file, written in whole blocks at increasing offsets, several writes in
 * flight, with O_DIRECT where the filesystem allows it; only the last partial block goes through
 * the page cache.
 *
 * Why direct I/O: writing a new 1 GiB file through the page cache costs the kernel 0.2 to 2.5
 * core-seconds here (allocating fresh page-cache memory, which on a VM that hands freed memory
 * back to its host means faulting it in again, then copying into it): as much as the cipher and
 * the digest together. Written straight from the pipeline's own buffers it costs ~0.05
 * (bench/REPORT.md). A filesystem without O_DIRECT, or a device that refuses the alignment, gets
 * the same writes through the page cache.
 *
 * Callers fill block-aligned buffers (BufferPool with `aligned`): `begin` puts the tail carried
 * over from the previous chunk at the front of the next buffer, `end` writes the whole blocks and
 * carries the partial last one.
 */
export class BlockSink extends CarryingSink {
  private position = 0;
  private readonly pending = new Set<Promise<void>>();
  private fail!: (e: unknown) => void;
  /** Rejects on the first write error, so waits elsewhere in the pipeline stop too. */
  readonly failed = new Promise<never>((_, reject) => (this.fail = reject));
  private buffered: Promise<FileHandle> | undefined;

  private constructor(
    private readonly path: string,
    private direct: FileHandle | undefined,
    buffered?: FileHandle,
  ) {
    super();
    this.failed.catch(() => {});
    if (buffered) this.buffered = Promise.resolve(buffered);
  }

  /** Creates `path` (exclusively, mode 0600). */
  static async create(path: string, direct: boolean): Promise<BlockSink> {
    if (direct && constants.O_DIRECT) {
      try {
        return new BlockSink(path, await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e; // EINVAL: no direct I/O on this filesystem
      }
    }
    return new BlockSink(path, undefined, await open(path, 'wx', 0o600));
  }

  /** Whether writes still bypass the page cache. */
  get directIo(): boolean {
    return this.direct !== undefined;
  }

  /** Bytes to write before the first chunk (the release header); less than a block. */
  prepend(bytes: Buffer): void {
    if (this.carried + bytes.byteLength >= BLOCK) throw new RangeError('prepend: more than a block');
    this.carried += bytes.copy(this.carry, this.carried);
  }

  /** Writes buf[0, end) but its partial last block (carried to the next chunk); `then` runs once `buf` is free. */
  end(buf: Buffer, end: number, then: () => void): void {
    const whole = this.carryTail(buf, end);
    const at = this.position;
    this.position += whole;
    if (whole === 0) return then();
    const p = this.writeAt(buf.subarray(0, whole), at).then(then);
    this.pending.add(p);
    p.then(
      () => this.pending.delete(p),
      (e: unknown) => this.fail(e),
    );
  }

  /** Writes the carried tail once every block is written. */
  async finish(): Promise<void> {
    await Promise.race([Promise.all(this.pending), this.failed]);
    if (this.carried === 0) return;
    await writeAll(await this.bufferedHandle(), this.carry.subarray(0, this.carried), this.position);
    this.position += this.carried;
    this.carried = 0;
  }

  /** fsync: per file, so either handle flushes what both wrote. */
  async sync(): Promise<void> {
    await (this.direct ?? (await this.bufferedHandle())).sync();
  }

  /** Closes both handles after any write still in flight (error paths included). */
  async close(): Promise<void> {
    await Promise.allSettled(this.pending);
    const handles = [this.direct, await this.buffered?.catch(() => undefined)];
    this.direct = undefined;
    this.buffered = undefined;
    await Promise.all(handles.map((h) => h?.close()));
  }

  private async writeAt(data: Buffer, at: number): Promise<void> {
    if (this.direct) {
      try {
        return await writeAll(this.direct, data, at);
      } catch (e) {
        // The device wants a larger alignment than BLOCK, or the memory is not aligned: from
        // here on, the page cache.
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
        this.direct = undefined;
      }
    }
    await writeAll(await this.bufferedHandle(), data, at);
  }

  private bufferedHandle(): Promise<FileHandle> {
    this.buffered ??= open(this.path, 'r+');
    return this.buffered;
  }
}

const writeAll = async (out: FileHandle, buf: Buffer, at: number): Promise<void> => {
  for (let off = 0; off < buf.byteLength; ) {
    // Regular files rarely write short, but write(2) does not promise otherwise.
    const { bytesWritten } = await out.write(buf, off, buf.byteLength - off, at + off);
    off += bytesWritten;
  }
};

/** Temp file (0600, exclusive) beside the target; renamed on success, removed on any failure. */
export const writeAtomically = async <T>(
  path: string,
  opts: { durable: boolean; direct: boolean },
  body: (out: BlockSink) => Promise<T>,
): Promise<T> => {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.partial`);
  const out = await BlockSink.create(temp, opts.direct);
  let closed = false;
  try {
    const result = await body(out);
    await out.finish();
    if (opts.durable) await out.sync();
    await out.close();
    closed = true;
    await rename(temp, path);
    return result;
  } catch (e) {
    if (!closed) await out.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw e;
  }
};

/**
 * The same chunks as BlockSink, into a stream instead of a file (a target's streamed install:
 * the plaintext goes on to tar as it verifies). The carry is kept so the pipeline runs as for a
 * file; each write is a copy (the pipeline reuses its buffers at once) and the buffer is handed
 * back when the stream has taken the copy, so a slow reader slows the decrypter down instead of
 * letting memory grow. The partial block carried at the end is written by `finish`, which the
 * decrypter reaches only after the final segment and the digest verified.
 */
export class StreamSink extends CarryingSink {
  private fail!: (e: unknown) => void;
  readonly failed = new Promise<never>((_, reject) => (this.fail = reject));

  constructor(private readonly stream: Writable) {
    super();
    this.failed.catch(() => {});
    stream.once('error', (e) => this.fail(e));
    stream.once('close', () => this.fail(new Error('the output stream closed before the release ended')));
  }

  end(buf: Buffer, end: number, then: () => void): void {
    const whole = this.carryTail(buf, end);
    if (whole === 0) return then();
    this.stream.write(Buffer.from(buf.subarray(0, whole)), (e) => (e ? this.fail(e) : then()));
  }

  /** Writes the carried tail and ends the stream. */
  async finish(): Promise<void> {
    const tail = Buffer.from(this.carry.subarray(0, this.carried));
    this.carried = 0;
    await Promise.race([new Promise<void>((resolve) => this.stream.end(tail, () => resolve())), this.failed]);
  }
}

/**
 * Runs `body` with a StreamSink on `stream` and ends the stream only if it succeeds; on failure
 * the stream is destroyed with the error, so what reads it sees a failure, never an end.
 */
export const writeToStream = async <T>(stream: Writable, body: (out: StreamSink) => Promise<T>): Promise<T> => {
  const out = new StreamSink(stream);
  try {
    const result = await body(out);
    await out.finish();
    return result;
  } catch (e) {
    stream.destroy(e as Error);
    throw e;
  }
};
