import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { release } from './pipeline.ts';
import { runChunk, type ChunkJob, type ChunkResult, type ChunkTools, type OpenJob, type SealJob } from './segment-chunks.ts';

/**
 * Runs the release pipeline's chunks (segment-chunks.ts) on this thread alone, or on worker
 * threads and this thread (whose JavaScript is otherwise idle: reads and writes run on libuv's
 * pool), whichever is free. Each lane answers in the order it was asked; the caller writes
 * results in file order. Cipher and digest together are
 * ~1 core-second per GiB here (bench/REPORT.md), so on a multi-core machine the lanes, not the
 * disk or the page cache, set the pace.
 */
export interface ChunkRunner {
  seal(job: SealJob): Promise<ChunkResult>;
  open(job: OpenJob): Promise<ChunkResult>;
  /** Whether jobs run on other threads (their buffers must then be shared memory). */
  readonly parallel: boolean;
  /** How many jobs run at once. */
  readonly width: number;
  /** Rejects if a worker fails; lets the pipeline stop waiting on results that will not come. */
  readonly failed: Promise<never>;
  close(): void;
}

/** 'workers': one per core but one (this thread is a lane too); a number: exactly that many workers. */
export type Threads = 'inline' | 'workers' | 'auto' | number;

export interface ChunkKey {
  /** The payload key (32 bytes). */
  key: Uint8Array;
  segmentSize: number;
  leafFrames: number;
}

/** Below this, a worker's start-up (tens of ms, ~10 MB RSS) costs more than it saves. */
const WORKER_THRESHOLD = 8 * 1024 * 1024;
/** Each worker is a V8 isolate (~9 MB RSS); past a few, memory bandwidth is the limit anyway. */
const MAX_LANES = 4;
/** Jobs a worker holds at once: the one it runs and one waiting, so it never idles between messages. */
const WORKER_DEPTH = 2;

export const createChunkRunner = (threads: Threads, size: number | undefined, k: ChunkKey): ChunkRunner => {
  if (typeof threads === 'number') return threads > 0 ? new WorkerRunner(threads, k) : new InlineRunner(k);
  const lanes = Math.min(MAX_LANES, availableParallelism());
  const useWorkers = threads === 'workers' || (threads === 'auto' && lanes > 1 && (size === undefined || size >= WORKER_THRESHOLD));
  return useWorkers ? new WorkerRunner(Math.max(1, lanes - 1), k) : new InlineRunner(k);
};

const inlineTools: ChunkTools = { createCipheriv, createDecipheriv, createHash, free: release, readSync };

class InlineRunner implements ChunkRunner {
  readonly parallel = false;
  readonly width = 1;
  readonly failed = new Promise<never>(() => {});
  constructor(private readonly k: ChunkKey) {}
  seal(job: SealJob): Promise<ChunkResult> {
    return this.run({ op: 'seal', ...job });
  }
  open(job: OpenJob): Promise<ChunkResult> {
    return this.run({ op: 'open', ...job });
  }
  run(job: ChunkJob): Promise<ChunkResult> {
    return Promise.resolve(runChunk(inlineTools, this.k.key, this.k.segmentSize, this.k.leafFrames, job));
  }
  close(): void {}
}

// Plain CommonJS evaluated in each worker: no separate file to locate, so it survives bundling.
// `__name` is what a transpiler that keeps function names may insert inside function bodies.
const WORKER_SOURCE = `
const { parentPort, workerData, MessageChannel } = require('node:worker_threads');
const crypto = require('node:crypto');
var __name = (f) => f;
const sink = new MessageChannel().port1;
sink.close();
const tools = {
  createCipheriv: crypto.createCipheriv,
  createDecipheriv: crypto.createDecipheriv,
  createHash: crypto.createHash,
  readSync: require('node:fs').readSync,
  free: (buf) => {
    const ab = buf.buffer;
    if (ab instanceof ArrayBuffer && buf.byteOffset === 0 && buf.byteLength === ab.byteLength && ab.byteLength > 0) sink.postMessage(null, [ab]);
  },
};
const runChunk = ${runChunk.toString()};
const { key, segmentSize, leafFrames, finished } = workerData;
parentPort.on('message', (job) => {
  parentPort.postMessage(runChunk(tools, key, segmentSize, leafFrames, job));
  Atomics.add(finished, 0, 1);
});
`;

type Pending = { resolve: (r: ChunkResult) => void };

/**
 * A worker and how far it has got. `finished` is shared memory the worker counts its jobs in,
 * so this thread knows how busy the worker is without first handling its replies (which wait
 * while this thread runs a chunk itself).
 */
interface Lane {
  worker: Worker;
  replies: Pending[];
  posted: number;
  finished: Int32Array;
}

class WorkerRunner implements ChunkRunner {
  readonly parallel = true;
  private readonly inline: InlineRunner;
  readonly width: number;
  private readonly lanes: Lane[];
  private closed = false;
  private fail!: (e: Error) => void;
  readonly failed = new Promise<never>((_, reject) => (this.fail = reject));

  constructor(count: number, k: ChunkKey) {
    this.failed.catch(() => {}); // observed by whoever races against it
    this.inline = new InlineRunner(k);
    this.width = count + 1;
    this.lanes = Array.from({ length: count }, () => {
      const finished = new Int32Array(new SharedArrayBuffer(4));
      const workerData = { key: Uint8Array.from(k.key), segmentSize: k.segmentSize, leafFrames: k.leafFrames, finished };
      const lane: Lane = { worker: new Worker(WORKER_SOURCE, { eval: true, workerData }), replies: [], posted: 0, finished };
      lane.worker.on('message', (r: ChunkResult) => lane.replies.shift()?.resolve(r));
      lane.worker.on('error', (e) => this.fail(e));
      lane.worker.on('exit', () => {
        if (!this.closed) this.fail(new Error('release worker exited'));
      });
      return lane;
    });
  }

  seal(job: SealJob): Promise<ChunkResult> {
    return this.post({ op: 'seal', ...job });
  }

  open(job: OpenJob): Promise<ChunkResult> {
    return this.post({ op: 'open', ...job });
  }

  private post(job: ChunkJob): Promise<ChunkResult> {
    for (const b of [job.input, job.output]) {
      if (!(b.buffer instanceof SharedArrayBuffer)) throw new TypeError('worker chunks need shared buffers');
    }
    // The least busy worker, unless every worker already has a job queued behind the one it
    // runs: then this thread takes the chunk (after the caller has read and handed out the next).
    const busy = (l: Lane): number => l.posted - Atomics.load(l.finished, 0);
    const lane = this.lanes.reduce((best, l) => (busy(l) < busy(best) ? l : best));
    if (busy(lane) >= WORKER_DEPTH) {
      return new Promise((resolve, reject) => setImmediate(() => this.inline.run(job).then(resolve, reject)));
    }
    const result = new Promise<ChunkResult>((resolve) => lane.replies.push({ resolve }));
    lane.posted++;
    lane.worker.postMessage(job);
    return Promise.race([result, this.failed]);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.lanes) void l.worker.terminate();
  }
}
