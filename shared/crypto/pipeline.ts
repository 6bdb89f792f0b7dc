import type { FileHandle } from 'node:fs/promises';
import { MessageChannel } from 'node:worker_threads';

/**
 * A fixed set of equal-size buffers reused for the whole stream: no per-chunk allocation, and
 * the number of buffers in flight (reads ahead, writes behind, hashes pending) is the memory
 * bound. Shared buffers (SharedArrayBuffer) let a hash worker read a chunk while the main thread
 * encrypts or decrypts the same bytes, with no copy and no transfer.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: Array<(b: Buffer) => void> = [];
  private created = 0;

  constructor(
    readonly size: number,
    private readonly max: number,
    private readonly shared = false,
  ) {}

  take(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    if (this.created < this.max) {
      this.created++;
      return Promise.resolve(this.shared ? Buffer.from(new SharedArrayBuffer(this.size)) : Buffer.allocUnsafeSlow(this.size));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give = (b: Buffer): void => {
    const w = this.waiting.shift();
    if (w) w(b);
    else this.free.push(b);
  };
}

// A port closed at once: transferring an ArrayBuffer to it detaches the buffer and drops the
// message, which frees the memory synchronously.
const sink = new MessageChannel().port1;
sink.close();

/**
 * Frees the memory behind a buffer that nothing references any more, now rather than at V8's
 * next garbage collection. Every `cipher.update()` returns a fresh 64 KiB ArrayBuffer; left to
 * the collector, ~32 MB of them pile up between young-generation collections (V8 collects when
 * young ArrayBuffers reach twice the maximum semi-space size), which is a third of the process's
 * peak RSS. Freed at once, the allocator hands the same memory, still in cache, to the next
 * segment. Only a view over a whole, unshared ArrayBuffer is released; anything else is left
 * to the collector. The buffer must not be used afterwards (it reads as empty).
 */
export const release = (buf: Buffer): void => {
  const ab = buf.buffer;
  if (ab instanceof ArrayBuffer && buf.byteOffset === 0 && buf.byteLength === ab.byteLength && ab.byteLength > 0) {
    sink.postMessage(null, [ab]);
  }
};

/** Sequential writes that run behind the cipher: the caller queues and moves on. */
export class SerialWriter {
  private tail: Promise<void> = Promise.resolve();
  private fail!: (e: unknown) => void;
  /** Rejects on the first write error, so waits elsewhere in the pipeline stop too. */
  readonly failed = new Promise<never>((_, reject) => (this.fail = reject));

  constructor(private readonly out: FileHandle) {
    this.failed.catch(() => {});
  }

  write(buf: Buffer, length: number, then: () => void): void {
    this.tail = this.tail.then(async () => {
      await writeAll(this.out, buf.subarray(0, length));
      then();
    });
    this.tail.catch((e: unknown) => this.fail(e));
  }

  flush(): Promise<void> {
    return this.tail;
  }
}

const writeAll = async (out: FileHandle, buf: Buffer): Promise<void> => {
  let off = 0;
  while (off < buf.byteLength) {
    // Regular files rarely write short, but write(2) does not promise otherwise.
    const { bytesWritten } = await out.write(buf, off, buf.byteLength - off, null);
    off += bytesWritten;
  }
};

/**
 * Returns a callback that runs `then` on its `count`-th call: a buffer read by several stages at
 * once (cipher and hasher, or hasher and writer) goes back to its pool only when the last is done.
 */
export const afterAll = (count: number, then: () => void): (() => void) => {
  let left = count;
  return () => {
    if (--left === 0) then();
  };
};

/** Awaits `p` unless a pipeline stage fails first. */
export const orFail = <T>(p: Promise<T>, ...failures: Promise<never>[]): Promise<T> => Promise.race([p, ...failures]);
