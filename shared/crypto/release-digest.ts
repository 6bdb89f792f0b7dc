import { createHash } from 'node:crypto';
import { LABEL } from './kdf.ts';
import { frameBytes } from './release-format.ts';

/**
 * The release file's digest (docs/release-format.md §3.5): a two-level hash, so that several
 * threads can each hash the frames they just encrypted or decrypted, while the result still pins
 * every byte of the file as one SHA-256 would.
 *
 *   leaf 0          = the header
 *   leaf j (j ≥ 1)  = frames (j−1)·G … j·G−1 (the last leaf holds what remains), G = leafFrames(S)
 *   digest          = SHA-256(label ‖ SHA-256(leaf 0) ‖ … ‖ SHA-256(leaf n) ‖ u64 file size)
 */
export const LEAF_BYTES = 1024 * 1024;

/** Frames per leaf: as many whole segments as fit in 1 MiB of plaintext, at least one. */
export const leafFrames = (segmentSize: number): number => Math.max(1, Math.floor(LEAF_BYTES / segmentSize));

/** Accumulates leaf digests in file order. */
export class ReleaseDigest {
  private readonly top = createHash('sha256').update(Buffer.from(LABEL.releaseDigest, 'latin1'));
  private size = 0;

  /** The header, leaf 0. */
  header(bytes: Uint8Array): this {
    this.top.update(createHash('sha256').update(bytes).digest());
    this.size += bytes.byteLength;
    return this;
  }

  /** Leaf digests (32 bytes each) of frames covering `bytes` bytes of the file. */
  leaves(digests: Uint8Array, bytes: number): this {
    this.top.update(digests);
    this.size += bytes;
    return this;
  }

  finish(): Buffer {
    const size = Buffer.alloc(8);
    size.writeBigUInt64BE(BigInt(this.size));
    return this.top.update(size).digest();
  }
}

/**
 * The digest of a whole release file in memory, computed from the definition alone (tests,
 * vectors); the pipeline computes the same value chunk by chunk.
 */
export const releaseDigestOf = (file: Uint8Array, headerBytes: number, segmentSize: number): Buffer => {
  const digest = new ReleaseDigest().header(file.subarray(0, headerBytes));
  const leaf = leafFrames(segmentSize) * frameBytes(segmentSize);
  for (let at = headerBytes; at < file.byteLength; at += leaf) {
    const end = Math.min(at + leaf, file.byteLength);
    digest.leaves(createHash('sha256').update(file.subarray(at, end)).digest(), end - at);
  }
  return digest.finish();
};
