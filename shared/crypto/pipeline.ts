import { MessageChannel } from 'node:worker_threads';

/**
 * A fixed set of equal-size buffers reused for the whole stream: no per-chunk allocation, and
 * the number of buffers in flight (reads ahead, jobs pending, writes behind) is the memory
 * bound. Shared buffers (SharedArrayBuffer) let a worker encrypt or decrypt a chunk the main
 * thread read, into a buffer the main thread then writes, with no copy and no transfer.
 * Aligned buffers start on a page boundary, as direct I/O needs (output-file.ts).
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: Array<(b: Buffer) => void> = [];
  private created = 0;
  private memory: ArrayBuffer | SharedArrayBuffer | undefined;

  constructor(
    readonly size: number,
    private readonly max: number,
    private readonly kind: { shared?: boolean; aligned?: boolean } = {},
  ) {}

  take(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    if (this.created < this.max) return Promise.resolve(this.create(this.created++));
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give = (b: Buffer): void => {
    const w = this.waiting.shift();
    if (w) w(b);
    else this.free.push(b);
  };

  private create(i: number): Buffer {
    const { shared = false, aligned = false } = this.kind;
    if (!aligned) return shared ? Buffer.from(new SharedArrayBuffer(this.size)) : Buffer.allocUnsafeSlow(this.size);
    // WebAssembly memory is the one allocator JavaScript can reach whose start is page-aligned.
    // Reserved for all buffers at once (non-shared memory cannot grow without detaching); the
    // kernel commits each page only when first written.
    const slot = Math.ceil(this.size / PAGE) * PAGE;
    const pages = Math.ceil((slot * this.max) / WASM_PAGE);
    this.memory ??= new wasm.Memory({ initial: pages, maximum: pages, shared }).buffer;
    return Buffer.from(this.memory, i * slot, this.size);
  }
}

const PAGE = 4096;
const WASM_PAGE = 65536;
// The ES2023 lib this project compiles against does not declare WebAssembly's values.
const wasm = (globalThis as unknown as {
  WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { buffer: ArrayBuffer | SharedArrayBuffer } };
}).WebAssembly;

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

/**
 * Copies `src` into `dst` at `at`; returns the offset after it. Not `src.copy()`: into shared
 * memory that is V8's relaxed (atomics-safe, word by word) memmove, which cost a tenth of the
 * encrypter's time; `fill` with a buffer value is a plain memcpy.
 */
export const copyInto = (dst: Buffer, at: number, src: Buffer): number => {
  if (src.byteLength > 0) dst.fill(src, at, at + src.byteLength);
  return at + src.byteLength;
};

/**
 * Steps run one after another in the order they were added, each once its result is in: chunks
 * finish out of order on several threads but are written and hashed in file order. `failed`
 * rejects on the first error (later steps are skipped), so waits elsewhere can stop too.
 */
export class InOrder {
  private tail: Promise<void> = Promise.resolve();
  private fail!: (e: unknown) => void;
  readonly failed = new Promise<never>((_, reject) => (this.fail = reject));

  constructor() {
    this.failed.catch(() => {});
  }

  add<T>(result: Promise<T>, step: (r: T) => void): void {
    result.catch(() => {}); // handled when its turn comes; must not surface as unhandled before then
    this.tail = this.tail.then(() => result).then(step);
    this.tail.catch(this.fail);
  }

  /** Resolves when every step added so far has run. */
  done(): Promise<void> {
    return this.tail;
  }
}

/** Awaits `p` unless a pipeline stage fails first. */
export const orFail = <T>(p: Promise<T>, ...failures: Promise<never>[]): Promise<T> => Promise.race([p, ...failures]);
