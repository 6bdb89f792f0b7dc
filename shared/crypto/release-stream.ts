import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { openSource, type ByteSource, type ReleaseInput } from './byte-source.ts';
import { describeContext, encodeContext, type CryptoContext } from './context.ts';
import {
  DigestMismatchError,
  TamperedHeaderError,
  TamperedSegmentError,
  TrailingDataError,
  TruncatedError,
  WrongContextError,
} from './errors.ts';
import { assertKey, SALT_BYTES, TAG_BYTES } from './kdf.ts';
import { verifyManifest, type ReleaseManifest, type UnsignedManifest } from './manifest.ts';
import { createChunkRunner, type ChunkRunner, type Threads } from './chunk-runner.ts';
import type { ChunkRead } from './segment-chunks.ts';
import { leafFrames, ReleaseDigest } from './release-digest.ts';
import { BLOCK, writeAtomically, writeToStream, type BlockSink, type StreamSink } from './output-file.ts';
import { BufferPool, InOrder, orFail } from './pipeline.ts';
import {
  buildHeader,
  checkCommitment,
  ciphertextSizeFor,
  DEFAULT_SEGMENT_SIZE,
  derivePayloadKey,
  frameBytes,
  HEADER_PREFIX_BYTES,
  parseHeader,
  parseHeaderPrefix,
} from './release-format.ts';

/**
 * A chunk is one leaf of the release digest (release-digest.ts): 16 segments of 64 KiB by
 * default, so ~1 MiB per read, per job and per write. Each pool holds enough buffers for every
 * lane to run a job with another queued, and for the reads ahead (or the writes behind). Output
 * buffers have a block to spare for the partial block carried between chunks (output-file.ts).
 */
const CHUNK_LEAVES = 1;
const READS_AHEAD = 3;
const poolSize = (runner: ChunkRunner): number => 2 * runner.width + READS_AHEAD;

export interface EncryptReleaseOptions {
  /** Plaintext: a file path, a Node stream (e.g. a tar), or bytes. */
  input: ReleaseInput;
  /** Written via a temporary file in the same directory and renamed when complete. */
  outputPath: string;
  /** 32-byte release key (fresh per release: see generateReleaseKey). */
  releaseKey: Uint8Array;
  /** The release context; purpose must be 'release'. */
  context: CryptoContext;
  /** Plaintext bytes per segment; default 65536. */
  segmentSize?: number;
  /**
   * fsync before rename. Default false: the encrypted file is an upload artefact, rebuilt by
   * pushing again, so a crash-proof copy is not worth a disk flush of the whole release.
   */
  durable?: boolean;
}

/** Everything a manifest needs; pass it to signManifest with the pusher's signing key. */
export type EncryptedRelease = UnsignedManifest;

export interface DecryptReleaseOptions {
  /** Ciphertext: a file path, a Node stream (e.g. an HTTP download), or bytes. */
  input: ReleaseInput;
  /**
   * Final path; appears only once every check has passed. Or a stream, which gets each chunk's
   * plaintext once its segments' tags verify, its last bytes only after the final segment and the
   * digest verify, and is destroyed with the error on any failure (a target's streamed install).
   */
  outputPath: string | { stream: Writable };
  releaseKey: Uint8Array;
  /** Expected release context; the header and the manifest must both carry exactly this. */
  context: CryptoContext;
  /** Signed manifest bytes (signManifest). */
  manifest: Uint8Array;
  /** The pusher's Ed25519 public key (raw 32 bytes). */
  signerPublicKey: Uint8Array;
  /** fsync before rename, so a crash cannot leave a half-written file under the final name. Default true. */
  durable?: boolean;
}

/** Test and benchmark knobs; not part of the public API. */
export interface InternalOptions {
  salt?: Uint8Array;
  /** Where chunks are encrypted/decrypted and hashed; default 'auto' (workers for large inputs). */
  threads?: Threads;
  /**
   * O_DIRECT output where the filesystem allows it (output-file.ts); default true. The output is
   * written once and read back at most once (an upload, a tar extraction), at disk speed, which is
   * no slower than the network or the extraction behind it.
   */
  directIo?: boolean;
}

const checkReleaseContext = (context: CryptoContext): void => {
  if (context.purpose !== 'release') throw new RangeError("release context purpose must be 'release'");
};

/**
 * Encrypts a release in constant memory. Returns header hash, sizes and the release digest for
 * the manifest. On failure the partial output is removed.
 */
export const encryptRelease = (opts: EncryptReleaseOptions): Promise<EncryptedRelease> => encryptReleaseWith(opts, {});

export const encryptReleaseWith = async (
  opts: EncryptReleaseOptions,
  internal: InternalOptions,
): Promise<EncryptedRelease> => {
  assertKey(opts.releaseKey, 'release key');
  checkReleaseContext(opts.context);
  const S = opts.segmentSize ?? DEFAULT_SEGMENT_SIZE;
  const header = buildHeader(opts.releaseKey, opts.context, S, internal.salt ?? randomBytes(SALT_BYTES));
  const payloadKey = derivePayloadKey(opts.releaseKey, header.salt, header.hash);
  const source = await openSource(opts.input);
  const G = leafFrames(S);
  const runner = createChunkRunner(internal.threads ?? 'auto', source.size, { key: payloadKey, segmentSize: S, leafFrames: G });
  try {
    const io = { durable: opts.durable ?? false, direct: internal.directIo ?? true };
    return await writeAtomically(opts.outputPath, io, async (out) => {
      const inOrder = new InOrder();
      const fails = [out.failed, runner.failed, inOrder.failed];
      const segments = CHUNK_LEAVES * G;
      const plainPool = new BufferPool(segments * S, poolSize(runner), { shared: runner.parallel });
      const cipherPool = new BufferPool(segments * frameBytes(S) + BLOCK, poolSize(runner) + 1, { shared: runner.parallel, aligned: true });
      const digest = new ReleaseDigest().header(header.bytes);
      out.prepend(Buffer.from(header.bytes));
      let segment = 0;
      let plaintextSize = 0;
      let fileSize = header.bytes.byteLength;
      const reads = chunkReader(source, plainPool, fails);
      for (;;) {
        const { buf, n, read } = await reads.next();
        // A short read is the end of input: the last segment is the short one (possibly empty).
        const last = n < buf.byteLength;
        const ct = await orFail(cipherPool.take(), ...fails);
        // Where this chunk's frames start in its buffer: after the previous chunk's partial block.
        const outAt = fileSize % BLOCK;
        const job = runner.seal({ input: buf, length: n, output: ct, outAt, firstSegment: segment, final: last, ...(read ? { read } : {}) });
        void job.then(() => plainPool.give(buf), noop);
        const frames = Math.floor(n / S) + (last ? 1 : 0);
        segment += frames;
        plaintextSize += n;
        fileSize += n + frames * TAG_BYTES;
        inOrder.add(job, (r) => {
          if (r.shortRead !== undefined) throw new Error('the input file shrank while it was being encrypted');
          inStep(out.begin(ct), outAt);
          digest.leaves(r.leaves, r.written);
          out.end(ct, outAt + r.written, () => cipherPool.give(ct));
        });
        if (last) break;
      }
      await orFail(inOrder.done(), ...fails);
      return {
        context: opts.context,
        segmentSize: S,
        plaintextSize,
        ciphertextSize: fileSize,
        headerHash: header.hash,
        fileDigest: digest.finish(),
      };
    });
  } finally {
    runner.close();
    payloadKey.fill(0);
    await source.close();
  }
};

/** The sink's carried partial block must be exactly where the worker was told the chunk starts. */
const inStep = (carried: number, outAt: number): void => {
  if (carried !== outAt) throw new Error(`release pipeline out of step: ${carried} carried bytes, chunk at ${outAt}`);
};

const noop = (): void => {};

/**
 * Verifies the signed manifest, then decrypts to a temporary file beside `outputPath` and
 * renames it only after the final segment, the sizes and the ciphertext digest all check out.
 * On any failure the temporary file is removed and a CryptoError says what failed.
 */
export const decryptRelease = (opts: DecryptReleaseOptions): Promise<ReleaseManifest> => decryptReleaseWith(opts, {});

export const decryptReleaseWith = async (opts: DecryptReleaseOptions, internal: InternalOptions): Promise<ReleaseManifest> => {
  try {
    const manifest = verifyManifest(opts.manifest, opts.signerPublicKey, opts.context);
    await decryptPayload(opts.input, opts.outputPath, opts.releaseKey, opts.context, manifest, opts.durable ?? true, internal);
    return manifest;
  } catch (e) {
    // A stream is never left open by a failure, whether before the first segment or after it.
    if (typeof opts.outputPath !== 'string') opts.outputPath.stream.destroy(e as Error);
    throw e;
  }
};

/**
 * @internal The format alone, with or without a manifest's expectations. Without them the
 * end of the stream is found from the short final segment, so a cut inside the final segment
 * reads as that segment failing; with them every truncation and trailing byte is named exactly.
 */
export const decryptPayload = async (
  input: ReleaseInput,
  outputPath: string | { stream: Writable },
  releaseKey: Uint8Array,
  context: CryptoContext,
  expect: UnsignedManifest | undefined,
  durable: boolean,
  internal: InternalOptions,
): Promise<void> => {
  assertKey(releaseKey, 'release key');
  checkReleaseContext(context);
  const source = await openSource(input);
  let runner: ChunkRunner | undefined;
  let payloadKey: Buffer | undefined;
  try {
    // 1. Header: context, then manifest header hash, then key commitment, before any segment.
    const prefix = await readExactly(source, HEADER_PREFIX_BYTES, 'release header');
    const { remaining } = parseHeaderPrefix(prefix);
    const header = parseHeader(Buffer.concat([prefix, await readExactly(source, remaining, 'release header')]));
    if (!header.contextBytes.equals(encodeContext(context))) {
      throw new WrongContextError(
        `release is for ${describeContext(header.context)}, expected ${describeContext(context)}`,
      );
    }
    if (expect && !header.hash.equals(expect.headerHash)) {
      throw new TamperedHeaderError('release header does not match the signed manifest');
    }
    checkCommitment(releaseKey, header);
    payloadKey = derivePayloadKey(releaseKey, header.salt, header.hash);
    const key = payloadKey;
    const S = header.segmentSize;
    const F = frameBytes(S);
    if (expect && expect.segmentSize !== S) throw new TamperedHeaderError('segment size differs from the manifest');
    // With a manifest the framing is known exactly: full segments, then one short final one.
    const framing: Framing = expect
      ? { F, exact: true, fullSegments: Math.floor(expect.plaintextSize / S), lastFrame: (expect.plaintextSize % S) + TAG_BYTES }
      : { F, exact: false, fullSegments: Infinity, lastFrame: 0 };
    const G = leafFrames(S);
    runner = createChunkRunner(internal.threads ?? 'auto', source.size, { key, segmentSize: S, leafFrames: G });
    const pool = runner;

    // 2. Segments, written only after their tags verify; the file is renamed (the stream ended) only at the end.
    const write = (body: (out: BlockSink | StreamSink) => Promise<void>) =>
      typeof outputPath === 'string' ? writeAtomically(outputPath, { durable, direct: internal.directIo ?? true }, body) : writeToStream(outputPath.stream, body);
    await write(async (out) => {
      const inOrder = new InOrder();
      const fails = [out.failed, pool.failed, inOrder.failed];
      const frames = CHUNK_LEAVES * G;
      const cipherPool = new BufferPool(frames * F, poolSize(pool), { shared: pool.parallel });
      const plainPool = new BufferPool(frames * S + BLOCK, poolSize(pool) + 1, { shared: pool.parallel, aligned: true });
      const digest = new ReleaseDigest().header(header.bytes);
      let segment = 0;
      let ciphertextSize = header.bytes.byteLength;
      const reads = chunkReader(source, cipherPool, fails);
      for (let done = false; !done; ) {
        const { buf, n, read } = await reads.next();
        const endOfInput = n < buf.byteLength;
        const chunk = frameChunk(n, segment, framing);
        let problem = chunk.problem;
        const hasFinal = chunk.finalFrame >= 0;
        if (!problem && !hasFinal && endOfInput) {
          problem = new TruncatedError(`release ends before its final segment (after ${segment + chunk.full} segments)`, segment + chunk.full);
        }
        if (!problem && hasFinal && !endOfInput && (await reads.next()).n > 0) {
          problem = new TrailingDataError('bytes follow the final segment');
        }
        done = hasFinal || problem !== undefined;
        if (chunk.bytes > 0) {
          const plain = await orFail(plainPool.take(), ...fails);
          // Every segment before this chunk was full: its plaintext starts at segment × S.
          const outAt = (segment * S) % BLOCK;
          const job = pool.open({
            input: buf,
            fullFrames: chunk.full,
            finalFrame: chunk.finalFrame,
            output: plain,
            outAt,
            firstSegment: segment,
            ...(read ? { read } : {}),
          });
          void job.then(() => cipherPool.give(buf), noop);
          segment += chunk.full + (hasFinal ? 1 : 0);
          ciphertextSize += chunk.bytes;
          inOrder.add(job, (r) => {
            if (r.shortRead !== undefined) throw new TruncatedError('the release file shrank while it was being decrypted');
            if (r.failedSegment !== undefined) throw new TamperedSegmentError(r.failedSegment);
            inStep(out.begin(plain), outAt);
            digest.leaves(r.leaves, chunk.bytes);
            // Every segment of this chunk has verified: only now is its plaintext written.
            out.end(plain, outAt + r.written, () => plainPool.give(plain));
          });
        } else {
          cipherPool.give(buf);
        }
        // Reported after the frames before it, so the first failure in file order is the one named.
        if (problem) inOrder.add(Promise.resolve(problem), (e) => { throw e; });
      }
      await orFail(inOrder.done(), ...fails);
      // 3. The manifest's digest: every tag passing proves a holder of the release key wrote
      // the file; this proves it is the exact file the pusher signed (key servers hold the key too).
      if (expect && (ciphertextSize !== expect.ciphertextSize || !digest.finish().equals(expect.fileDigest))) {
        throw new DigestMismatchError('release file differs from the one the manifest describes');
      }
    });
  } finally {
    runner?.close();
    payloadKey?.fill(0);
    await source.close();
  }
};

interface Framing {
  F: number;
  /** Whether the manifest fixes the framing (else the short final frame ends the release). */
  exact: boolean;
  fullSegments: number;
  lastFrame: number;
}

/**
 * The frames in n bytes read from segment `first` on: `full` whole frames, then the final frame if
 * the release ends in this chunk, and what is wrong after them, if anything.
 */
const frameChunk = (n: number, first: number, f: Framing): { full: number; finalFrame: number; bytes: number; problem?: Error } => {
  let pos = 0;
  let full = 0;
  while (pos < n) {
    const index = first + full;
    const avail = n - pos;
    let frame: number;
    if (f.exact) {
      frame = index === f.fullSegments ? f.lastFrame : f.F;
    } else {
      // A full frame is never the final one (the final segment is always short).
      frame = avail >= f.F ? f.F : avail;
    }
    if (avail < frame || frame < TAG_BYTES) {
      return { full, finalFrame: -1, bytes: pos, problem: new TruncatedError(`release ends inside segment ${index}`, index) };
    }
    pos += frame;
    if (frame === f.F) {
      full++;
      continue;
    }
    const problem = pos < n ? new TrailingDataError(`${n - pos} bytes follow the final segment`) : undefined;
    return { full, finalFrame: frame, bytes: pos, ...(problem ? { problem } : {}) };
  }
  return { full, finalFrame: -1, bytes: pos };
};

interface ChunkReader {
  /** The next chunk's buffer and byte count; with `read`, the lane reads the bytes itself. */
  next(): Promise<{ buf: Buffer; n: number; read?: ChunkRead }>;
}

const chunkReader = (source: ByteSource, pool: BufferPool, fails: Promise<never>[]): ChunkReader =>
  source.file ? new FileChunks(source.file, pool, fails) : new ReadAhead(source, pool, fails);

/**
 * A file's chunks are read by the lane that processes them (segment-chunks.ts), straight into
 * that core's cache; this thread only hands out the places, sized from the file's length.
 */
class FileChunks implements ChunkReader {
  constructor(
    private readonly file: NonNullable<ByteSource['file']>,
    private readonly pool: BufferPool,
    private readonly fails: Promise<never>[],
  ) {}

  async next(): Promise<{ buf: Buffer; n: number; read: ChunkRead }> {
    const buf = await orFail(this.pool.take(), ...this.fails);
    const position = this.file.claim(buf.byteLength);
    return { buf, n: Math.max(0, Math.min(buf.byteLength, this.file.size - position)), read: { fd: this.file.fd, position } };
  }
}

/**
 * Reads chunk after chunk on this thread, several in flight where the source allows: a read
 * waits for a core while the cipher lanes keep both busy, and one read at a time would leave
 * them waiting in turn. Reads stop after the first short one (the end of input).
 */
class ReadAhead implements ChunkReader {
  private readonly queue: Array<Promise<{ buf: Buffer; n: number }>> = [];
  private turn: Promise<unknown> = Promise.resolve();
  private ended = false;

  constructor(
    private readonly source: ByteSource,
    private readonly pool: BufferPool,
    private readonly fails: Promise<never>[],
  ) {
    this.fill();
  }

  next(): Promise<{ buf: Buffer; n: number }> {
    const p = this.queue.shift() ?? this.read();
    this.fill();
    return orFail(p, ...this.fails);
  }

  private fill(): void {
    const depth = this.source.concurrent ? READS_AHEAD : 1;
    while (!this.ended && this.queue.length < depth) this.queue.push(this.read());
  }

  private read(): Promise<{ buf: Buffer; n: number }> {
    // Reads are issued in order: each waits for the one before to have its buffer and its place
    // in the file (a file, or memory) or to have finished (a stream).
    const started = this.turn
      .then(() => orFail(this.pool.take(), ...this.fails))
      .then((buf) => ({ buf, reading: this.source.readFull(buf) }));
    this.turn = started.then((s) => (this.source.concurrent ? undefined : s.reading)).catch(() => {});
    const p = started.then(async ({ buf, reading }) => {
      const n = await reading;
      if (n < buf.byteLength) this.ended = true;
      return { buf, n };
    });
    p.catch(() => {}); // awaited through next(); a failure elsewhere must not surface as unhandled
    return p;
  }
}

const readExactly = async (source: ByteSource, size: number, what: string): Promise<Buffer> => {
  const buf = Buffer.alloc(size);
  const n = await source.readFull(buf);
  if (n < size) throw new TruncatedError(`${what} truncated`);
  return buf;
};

export { ciphertextSizeFor };
