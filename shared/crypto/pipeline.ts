import type { FileHandle } from 'node:fs/promises';

/**
 * A fixed set of equal-size buffers reused for the whole stream: no per-chunk allocation, and
 * the number of buffers in flight (reads ahead, writes behind, hashes pending) is the memory bound.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: Array<(b: Buffer) => void> = [];
  private created = 0;

  constructor(
    readonly size: number,
    private readonly max: number,
  ) {}

  take(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    if (this.created < this.max) {
      this.created++;
      // allocUnsafeSlow: an ArrayBuffer of its own (not Node's shared pool), so it can be
      // transferred to a hash worker and back.
      return Promise.resolve(Buffer.allocUnsafeSlow(this.size));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give = (b: Buffer): void => {
    const w = this.waiting.shift();
    if (w) w(b);
    else this.free.push(b);
  };
}

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

/** Awaits `p` unless a pipeline stage fails first. */
export const orFail = <T>(p: Promise<T>, ...failures: Promise<never>[]): Promise<T> => Promise.race([p, ...failures]);
