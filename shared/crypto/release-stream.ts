import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
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
import { createSha256Sink, type HashMode, type Sha256Sink } from './parallel-hash.ts';
import { BLOCK, writeAtomically } from './output-file.ts';
import { afterAll, BufferPool, copyInto, orFail, release } from './pipeline.ts';
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
  setNonce,
} from './release-format.ts';

/**
 * Reads and writes move ~2 MiB at a time through a few reused buffers: few syscalls, bounded
 * memory, whole segments only. Each segment's cipher output is copied into the chunk's output
 * buffer while still in cache and freed at once (see `release`). Output buffers have a block to
 * spare for the partial block carried between chunks (output-file.ts).
 */
const CHUNK_TARGET = 2 * 1024 * 1024;
/** Keeps tiny test segment sizes from making a chunk of thousands of cipher calls. */
const MAX_SEGMENTS_PER_CHUNK = 256;
/** Buffers per pool: one being processed, one read ahead (or written behind), one spare for a lagging hasher or disk. */
const POOL_BUFFERS = 3;

const segmentsPerChunk = (unit: number): number =>
  Math.max(1, Math.min(MAX_SEGMENTS_PER_CHUNK, Math.floor(CHUNK_TARGET / unit)));

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
  /** Final path; appears only once every check has passed. */
  outputPath: string;
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
  hashing?: HashMode;
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
 * Encrypts a release in constant memory. Returns header hash, sizes and the SHA-256 of the file
 * for the manifest. On failure the partial output is removed.
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
  // The file's digest runs on a worker (for large inputs) over each chunk of cipher output while
  // the pool writes the same chunk out and this thread encrypts the next one.
  const cipherHash = createSha256Sink(internal.hashing ?? 'auto', source.size);
  try {
    const io = { durable: opts.durable ?? false, direct: internal.directIo ?? true };
    return await writeAtomically(opts.outputPath, io, async (out) => {
      const fails = [out.failed, cipherHash.failed];
      const segments = segmentsPerChunk(S);
      const plainPool = new BufferPool(segments * S, POOL_BUFFERS);
      const cipherPool = new BufferPool(segments * frameBytes(S) + BLOCK, POOL_BUFFERS + 1, { shared: cipherHash.parallel, aligned: true });
      const headerBytes = Buffer.from(header.bytes);
      cipherHash.push(headerBytes, headerBytes.byteLength, noop);
      out.prepend(headerBytes);
      const nonce = Buffer.alloc(12);
      let counter = 0;
      let plaintextSize = 0;
      let ciphertextSize = headerBytes.byteLength;
      let next = readInto(source, plainPool, fails);
      for (;;) {
        const { buf, n } = await orFail(next, ...fails);
        // A short read is the end of input: the last segment is the short one (possibly empty).
        const last = n < buf.byteLength;
        if (!last) next = readInto(source, plainPool, fails);
        const ct = await orFail(cipherPool.take(), ...fails);
        const start = out.begin(ct);
        let w = start;
        let off = 0;
        for (; off + S <= n; off += S) w = sealSegment(payloadKey, nonce, counter++, false, buf, off, S, ct, w);
        if (last) w = sealSegment(payloadKey, nonce, counter++, true, buf, off, n - off, ct, w);
        plainPool.give(buf);
        plaintextSize += n;
        ciphertextSize += w - start;
        // Hashed and written at the same time (both only read `ct`); reused once both are done.
        const done = afterAll(2, () => cipherPool.give(ct));
        cipherHash.push(ct.subarray(start), w - start, done);
        out.end(ct, w, done);
        if (last) break;
      }
      return {
        context: opts.context,
        segmentSize: S,
        plaintextSize,
        ciphertextSize,
        headerHash: header.hash,
        ciphertextSha256: await cipherHash.digest(),
      };
    });
  } finally {
    cipherHash.close();
    payloadKey.fill(0);
    await source.close();
  }
};

/** Encrypts plain[off, off+len) as segment `counter` into out at `w`; returns the new offset. */
const sealSegment = (
  key: Buffer,
  nonce: Buffer,
  counter: number,
  final: boolean,
  plain: Buffer,
  off: number,
  len: number,
  out: Buffer,
  w: number,
): number => {
  setNonce(nonce, counter, final);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  const ct = cipher.update(plain.subarray(off, off + len));
  cipher.final(); // GCM emits nothing here; it computes the tag
  const tag = cipher.getAuthTag();
  w = copyInto(out, w, ct);
  release(ct);
  return w + tag.copy(out, w);
};

const noop = (): void => {};

/**
 * Verifies the signed manifest, then decrypts to a temporary file beside `outputPath` and
 * renames it only after the final segment, the sizes and the ciphertext digest all check out.
 * On any failure the temporary file is removed and a CryptoError says what failed.
 */
export const decryptRelease = (opts: DecryptReleaseOptions): Promise<ReleaseManifest> => decryptReleaseWith(opts, {});

export const decryptReleaseWith = async (opts: DecryptReleaseOptions, internal: InternalOptions): Promise<ReleaseManifest> => {
  const manifest = verifyManifest(opts.manifest, opts.signerPublicKey, opts.context);
  await decryptPayload(opts.input, opts.outputPath, opts.releaseKey, opts.context, manifest, opts.durable ?? true, internal);
  return manifest;
};

/**
 * @internal The format alone, with or without a manifest's expectations. Without them the
 * end of the stream is found from the short final segment, so a cut inside the final segment
 * reads as that segment failing; with them every truncation and trailing byte is named exactly.
 */
export const decryptPayload = async (
  input: ReleaseInput,
  outputPath: string,
  releaseKey: Uint8Array,
  context: CryptoContext,
  expect: UnsignedManifest | undefined,
  durable: boolean,
  internal: InternalOptions,
): Promise<void> => {
  assertKey(releaseKey, 'release key');
  checkReleaseContext(context);
  const source = await openSource(input);
  let cipherHash: Sha256Sink | undefined;
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
    const fullSegments = expect ? Math.floor(expect.plaintextSize / S) : Infinity;
    const finalFrame = expect ? (expect.plaintextSize % S) + TAG_BYTES : 0;
    cipherHash = createSha256Sink(internal.hashing ?? 'auto', source.size);
    const hasher = cipherHash;

    // 2. Segments, written only after their tags verify; the file is renamed only at the end.
    await writeAtomically(outputPath, { durable, direct: internal.directIo ?? true }, async (out) => {
      const fails = [out.failed, hasher.failed];
      const frames = segmentsPerChunk(F);
      const cipherPool = new BufferPool(frames * F, POOL_BUFFERS, { shared: hasher.parallel });
      const plainPool = new BufferPool(frames * S + BLOCK, POOL_BUFFERS, { aligned: true });
      const headerBytes = Buffer.from(header.bytes);
      hasher.push(headerBytes, headerBytes.byteLength, noop);
      const nonce = Buffer.alloc(12);
      let segment = 0;
      let ciphertextSize = headerBytes.byteLength;
      let next = readInto(source, cipherPool, fails);
      for (let done = false; !done; ) {
        const { buf, n } = await orFail(next, ...fails);
        const endOfInput = n < buf.byteLength;
        if (!endOfInput) next = readInto(source, cipherPool, fails);
        const plain = await orFail(plainPool.take(), ...fails);
        // Hash the whole read while this thread decrypts it (both only read `buf`, which is
        // reused once both are done). If anything follows the final frame the release is
        // refused below, so hashing all `n` bytes rather than only the frames is never observable.
        const readDone = afterAll(2, () => cipherPool.give(buf));
        hasher.push(buf, n, readDone);
        let w = out.begin(plain);
        let pos = 0;
        while (pos < n) {
          const avail = n - pos;
          let final: boolean;
          let frame: number;
          if (expect) {
            final = segment === fullSegments;
            frame = final ? finalFrame : F;
            if (avail < frame) throw new TruncatedError(`release ends inside segment ${segment}`, segment);
          } else if (avail >= F) {
            // A full frame is never the final one (the final segment is always short).
            final = false;
            frame = F;
          } else {
            if (avail < TAG_BYTES) throw new TruncatedError(`release ends inside segment ${segment}`, segment);
            final = true;
            frame = avail;
          }
          w = openSegment(key, nonce, segment, final, buf, pos, frame, plain, w);
          pos += frame;
          segment++;
          if (final) {
            done = true;
            if (pos < n) throw new TrailingDataError(`${n - pos} bytes follow the final segment`);
            break;
          }
        }
        if (!done && endOfInput) {
          throw new TruncatedError(`release ends before its final segment (after ${segment} segments)`, segment);
        }
        if (done && !endOfInput) {
          const extra = await orFail(next, ...fails);
          if (extra.n > 0) throw new TrailingDataError('bytes follow the final segment');
        }
        readDone();
        ciphertextSize += pos;
        // Every segment of this chunk has verified: only now is its plaintext written.
        out.end(plain, w, () => plainPool.give(plain));
      }
      // 3. The manifest's digest: every tag passing proves a holder of the release key wrote
      // the file; this proves it is the exact file the pusher signed (key servers hold the key too).
      const digest = await hasher.digest();
      if (expect && (ciphertextSize !== expect.ciphertextSize || !digest.equals(expect.ciphertextSha256))) {
        throw new DigestMismatchError('release file differs from the one the manifest describes');
      }
    });
  } finally {
    cipherHash?.close();
    payloadKey?.fill(0);
    await source.close();
  }
};

/** Decrypts the frame at in[pos, pos+frame) into out at `w`; throws TamperedSegmentError. */
const openSegment = (
  key: Buffer,
  nonce: Buffer,
  segment: number,
  final: boolean,
  input: Buffer,
  pos: number,
  frame: number,
  out: Buffer,
  w: number,
): number => {
  setNonce(nonce, segment, final);
  const ctEnd = pos + frame - TAG_BYTES;
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(input.subarray(ctEnd, ctEnd + TAG_BYTES));
  const plain = decipher.update(input.subarray(pos, ctEnd));
  try {
    decipher.final();
  } catch {
    release(plain); // unverified plaintext: dropped now, never copied anywhere
    throw new TamperedSegmentError(segment);
  }
  w = copyInto(out, w, plain);
  release(plain);
  return w;
};

const readInto = (
  source: ByteSource,
  pool: BufferPool,
  fails: Promise<never>[],
): Promise<{ buf: Buffer; n: number }> => {
  const p = orFail(pool.take(), ...fails).then(async (buf) => ({ buf, n: await source.readFull(buf) }));
  p.catch(() => {}); // awaited by the loop; a failure elsewhere must not surface as unhandled
  return p;
};

const readExactly = async (source: ByteSource, size: number, what: string): Promise<Buffer> => {
  const buf = Buffer.alloc(size);
  const n = await source.readFull(buf);
  if (n < size) throw new TruncatedError(`${what} truncated`);
  return buf;
};

export { ciphertextSizeFor };
