import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * SHA-256 over a sequence of buffers, computed inline or on a worker thread. SHA-256 (~1.9 GB/s
 * with SHA-NI here) is slower than AES-GCM, so for large releases each digest runs on its own
 * thread beside the cipher. Buffers go to the worker by transfer (no copy) and come back through
 * `done`, so the caller can reuse them: memory stays bounded by the caller's buffer pool.
 */
export interface Sha256Sink {
  /** Hashes buf[0, length); `buf` must not be touched until `done(buf)` gives it back. */
  push(buf: Buffer, length: number, done: (buf: Buffer) => void): void;
  digest(): Promise<Buffer>;
  /** Stops the worker (error paths, and after digest). */
  close(): void;
  /** Rejects if the hasher fails; lets the pipeline stop waiting on buffers that will not return. */
  readonly failed: Promise<never>;
}

export type HashMode = 'inline' | 'worker' | 'auto';

/** Below this a worker's start-up (tens of ms) costs more than it saves. */
const WORKER_THRESHOLD = 8 * 1024 * 1024;

export const createSha256Sink = (mode: HashMode, size: number | undefined): Sha256Sink =>
  mode === 'worker' || (mode === 'auto' && (size === undefined || size >= WORKER_THRESHOLD))
    ? new WorkerSha256()
    : new InlineSha256();

const never = (): Promise<never> => new Promise<never>(() => {});

class InlineSha256 implements Sha256Sink {
  private readonly hash = createHash('sha256');
  readonly failed = never();
  push(buf: Buffer, length: number, done: (buf: Buffer) => void): void {
    this.hash.update(length === buf.byteLength ? buf : buf.subarray(0, length));
    done(buf);
  }
  async digest(): Promise<Buffer> {
    return this.hash.digest();
  }
  close(): void {}
}

// Plain CommonJS evaluated in the worker: no separate file to locate, so it survives bundling.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const hash = require('node:crypto').createHash('sha256');
parentPort.on('message', (m) => {
  if (m === null) { parentPort.postMessage(hash.digest()); return; }
  hash.update(new Uint8Array(m.buf, 0, m.length));
  parentPort.postMessage(m.buf, [m.buf]);
});
`;

const copyToOwnBuffer = (buf: Buffer, length: number): Buffer => {
  const own = Buffer.allocUnsafeSlow(length); // never from Node's shared pool
  buf.copy(own, 0, 0, length);
  return own;
};

class WorkerSha256 implements Sha256Sink {
  private readonly worker = new Worker(WORKER_SOURCE, { eval: true });
  private readonly returns: Array<(buf: Buffer) => void> = [];
  private onDigest: ((d: Buffer) => void) | undefined;
  private fail!: (e: Error) => void;
  private closed = false;
  readonly failed = new Promise<never>((_, reject) => (this.fail = reject));

  constructor() {
    this.failed.catch(() => {}); // observed by whoever races against it
    this.worker.on('message', (m: ArrayBuffer | Uint8Array) => {
      if (m instanceof ArrayBuffer) this.returns.shift()?.(Buffer.from(m));
      else this.onDigest?.(Buffer.from(m.buffer, m.byteOffset, m.byteLength));
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', () => {
      if (!this.closed) this.fail(new Error('hash worker exited'));
    });
  }

  push(buf: Buffer, length: number, done: (buf: Buffer) => void): void {
    // Transfer needs a view over a whole ArrayBuffer of our own; anything else is copied once.
    const whole = buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer;
    const own = whole ? buf : copyToOwnBuffer(buf, length);
    this.returns.push(own === buf ? done : () => done(buf));
    this.worker.postMessage({ buf: own.buffer, length }, [own.buffer as ArrayBuffer]);
  }

  async digest(): Promise<Buffer> {
    const d = new Promise<Buffer>((resolve) => (this.onDigest = resolve));
    this.worker.postMessage(null);
    try {
      return await Promise.race([d, this.failed]);
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.worker.terminate();
  }
}
