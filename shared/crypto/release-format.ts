import { createHash, timingSafeEqual } from 'node:crypto';
import { ByteReader } from './bytes.ts';
import { decodeContext, encodeContext, type CryptoContext } from './context.ts';
import { MalformedError, UnsupportedVersionError, WrongKeyError } from './errors.ts';
import { hkdf32, LABEL, SALT_BYTES, TAG_BYTES } from './kdf.ts';

/**
 * Release file v1 (docs/release-format.md §3):
 *   magic(8) ‖ u8 version=1 ‖ u32 segment size ‖ salt(32) ‖ u16 context length ‖ context ‖ commitment(32)
 * then segments, each ciphertext ‖ tag(16). Every segment but the last holds exactly `segment
 * size` plaintext bytes; the last holds fewer (possibly zero), so a reader can always tell where
 * the stream should end.
 */
// PNG-style: a high-bit byte and CR LF / ^Z / LF reveal 7-bit or newline-mangling transfers.
export const RELEASE_MAGIC = Buffer.from([0x89, 0x4c, 0x4b, 0x52, 0x0d, 0x0a, 0x1a, 0x0a]);
export const RELEASE_VERSION = 1;
export const DEFAULT_SEGMENT_SIZE = 64 * 1024;
/** Small segments exist for tests (every-bit-flip sweeps); producers use the default. */
export const MIN_SEGMENT_SIZE = 16;
export const MAX_SEGMENT_SIZE = 16 * 1024 * 1024;
/** Bytes before the context: magic, version, segment size, salt, context length. */
export const HEADER_PREFIX_BYTES = 8 + 1 + 4 + SALT_BYTES + 2;
export const COMMITMENT_BYTES = 32;

export const checkSegmentSize = (size: number): void => {
  if (!Number.isInteger(size) || size < MIN_SEGMENT_SIZE || size > MAX_SEGMENT_SIZE) {
    throw new RangeError(`segment size must be an integer in [${MIN_SEGMENT_SIZE}, ${MAX_SEGMENT_SIZE}]`);
  }
};

/**
 * Commits to the release key alone (not the header), so a mismatch can only mean "another key"
 * and is reported as such; the header is bound separately through the payload key.
 */
export const deriveCommitment = (releaseKey: Uint8Array, salt: Uint8Array): Buffer =>
  hkdf32(releaseKey, salt, LABEL.releaseCommitment);

/** Payload key = HKDF(release key, salt, label ‖ SHA-256(header)): any header change re-keys. */
export const derivePayloadKey = (releaseKey: Uint8Array, salt: Uint8Array, headerHash: Uint8Array): Buffer =>
  hkdf32(releaseKey, salt, LABEL.releasePayload, headerHash);

export interface ReleaseHeader {
  segmentSize: number;
  salt: Buffer;
  context: CryptoContext;
  contextBytes: Buffer;
  commitment: Buffer;
  /** The whole header as it appears in the file. */
  bytes: Buffer;
  /** SHA-256 of `bytes`: what the manifest signs and the payload key is derived from. */
  hash: Buffer;
}

export const buildHeader = (
  releaseKey: Uint8Array,
  context: CryptoContext,
  segmentSize: number,
  salt: Uint8Array,
): ReleaseHeader => {
  checkSegmentSize(segmentSize);
  if (salt.byteLength !== SALT_BYTES) throw new RangeError(`salt must be ${SALT_BYTES} bytes`);
  const contextBytes = encodeContext(context);
  const commitment = deriveCommitment(releaseKey, salt);
  const bytes = Buffer.alloc(HEADER_PREFIX_BYTES + contextBytes.byteLength + COMMITMENT_BYTES);
  RELEASE_MAGIC.copy(bytes, 0);
  bytes.writeUInt8(RELEASE_VERSION, 8);
  bytes.writeUInt32BE(segmentSize, 9);
  bytes.set(salt, 13);
  bytes.writeUInt16BE(contextBytes.byteLength, 13 + SALT_BYTES);
  contextBytes.copy(bytes, HEADER_PREFIX_BYTES);
  commitment.copy(bytes, HEADER_PREFIX_BYTES + contextBytes.byteLength);
  return {
    segmentSize,
    salt: Buffer.from(salt),
    context,
    contextBytes,
    commitment,
    bytes,
    hash: createHash('sha256').update(bytes).digest(),
  };
};

/** Parses the fixed prefix; returns how many more header bytes (context + commitment) follow. */
export const parseHeaderPrefix = (prefix: Buffer): { segmentSize: number; salt: Buffer; remaining: number } => {
  const r = new ByteReader(prefix, 'release header');
  if (!r.bytes(8).equals(RELEASE_MAGIC)) throw new MalformedError('release header: not a Latchkey release file');
  const version = r.u8();
  if (version !== RELEASE_VERSION) throw new UnsupportedVersionError(`release header: unknown version ${version}`);
  const segmentSize = r.u32();
  if (segmentSize < MIN_SEGMENT_SIZE || segmentSize > MAX_SEGMENT_SIZE) {
    throw new MalformedError(`release header: segment size ${segmentSize} out of range`);
  }
  const salt = r.bytes(SALT_BYTES);
  const contextLength = r.u16();
  return { segmentSize, salt, remaining: contextLength + COMMITMENT_BYTES };
};

export const parseHeader = (bytes: Buffer): ReleaseHeader => {
  const { segmentSize, salt, remaining } = parseHeaderPrefix(bytes.subarray(0, HEADER_PREFIX_BYTES));
  if (bytes.byteLength !== HEADER_PREFIX_BYTES + remaining) throw new MalformedError('release header: bad length');
  const contextBytes = bytes.subarray(HEADER_PREFIX_BYTES, bytes.byteLength - COMMITMENT_BYTES);
  return {
    segmentSize,
    salt,
    context: decodeContext(contextBytes),
    contextBytes,
    commitment: bytes.subarray(bytes.byteLength - COMMITMENT_BYTES),
    bytes,
    hash: createHash('sha256').update(bytes).digest(),
  };
};

/** Constant-time commitment check, before any segment is touched. */
export const checkCommitment = (releaseKey: Uint8Array, header: ReleaseHeader): void => {
  const expected = deriveCommitment(releaseKey, header.salt);
  if (!timingSafeEqual(expected, header.commitment)) {
    throw new WrongKeyError('release key does not match the key commitment in the release header');
  }
};

export const frameBytes = (segmentSize: number): number => segmentSize + TAG_BYTES;

/** Exact file size for a plaintext size: lets the manifest and the reader agree on the framing. */
export const ciphertextSizeFor = (headerBytes: number, segmentSize: number, plaintextSize: number): number =>
  headerBytes + plaintextSize + (Math.floor(plaintextSize / segmentSize) + 1) * TAG_BYTES;
