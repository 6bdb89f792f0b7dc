/**
 * The per-chunk work of the release pipeline: AES-256-GCM over a run of whole segments plus the
 * SHA-256 leaf digests of the resulting frames (docs/release-format.md §3.3, §3.5). A chunk
 * always starts on a leaf boundary, so the chunk's leaves are complete and can be hashed by
 * whichever thread encrypted or decrypted them, each frame while it is still in that core's cache.
 *
 * `runChunk` runs on the main thread (small releases) and, as source text, in worker threads
 * (chunk-runner.ts). So it must stay self-contained: no imports, no helpers defined outside,
 * no nested functions; everything they call comes in through `tools`.
 */
export interface ChunkTools {
  createCipheriv: typeof import('node:crypto').createCipheriv;
  createDecipheriv: typeof import('node:crypto').createDecipheriv;
  createHash: typeof import('node:crypto').createHash;
  /** Frees a buffer nothing references any more, now rather than at the next GC (pipeline.ts `release`). */
  free: (buf: Buffer) => void;
  readSync: typeof import('node:fs').readSync;
}

/**
 * Where the lane reads the chunk's input itself, at `position` in file `fd`, into `input`: read
 * on the core that then encrypts (or hashes) it, the bytes are still in that core's cache.
 */
export interface ChunkRead {
  fd: number;
  position: number;
}

export interface SealJob {
  /** Plaintext: input[0, length). */
  input: Uint8Array;
  length: number;
  /** Frames go to output from `outAt` on (the bytes before it are the previous chunk's partial block). */
  output: Uint8Array;
  outAt: number;
  /** Index of the chunk's first segment. */
  firstSegment: number;
  /** Whether the chunk ends the release (its last segment is the short final one, possibly empty). */
  final: boolean;
  read?: ChunkRead;
}

export interface OpenJob {
  /** Ciphertext frames: input[0, fullFrames·(S+16) + finalFrame). */
  input: Uint8Array;
  fullFrames: number;
  /** Length of the final frame at the end of the chunk, or -1 if the chunk has none. */
  finalFrame: number;
  output: Uint8Array;
  outAt: number;
  firstSegment: number;
  read?: ChunkRead;
}

export interface ChunkResult {
  /** Bytes written to the output after `outAt`. */
  written: number;
  /** The chunk's leaf digests, 32 bytes each, in order. */
  leaves: Uint8Array;
  /** The first segment whose tag did not verify (open only); nothing after `outAt` is then valid. */
  failedSegment?: number;
  /** Bytes the lane's own read found, when fewer than the chunk needs (the file shrank). */
  shortRead?: number;
}

export type ChunkJob = ({ op: 'seal' } & SealJob) | ({ op: 'open' } & OpenJob);

/**
 * Seal: encrypts job.input into frames. Open: decrypts job.input's frames, copying plaintext out
 * only after its tag verifies. Either way each frame is hashed into the leaf of `leafFrames`
 * frames it belongs to.
 */
export const runChunk = (tools: ChunkTools, key: Uint8Array, S: number, leafFrames: number, job: ChunkJob): ChunkResult => {
  const F = S + 16;
  const input = Buffer.from(job.input.buffer, job.input.byteOffset, job.input.byteLength);
  const output = Buffer.from(job.output.buffer, job.output.byteOffset, job.output.byteLength);
  const full = job.op === 'seal' ? Math.floor(job.length / S) : job.fullFrames;
  const hasFinal = job.op === 'seal' ? job.final : job.finalFrame >= 0;
  const frames = hasFinal ? full + 1 : full;
  const leaves = Buffer.alloc(Math.ceil(frames / leafFrames) * 32);
  if (job.read) {
    const want = job.op === 'seal' ? job.length : full * F + (hasFinal ? job.finalFrame : 0);
    let got = 0;
    while (got < want) {
      const n = tools.readSync(job.read.fd, input, got, want - got, job.read.position + got);
      if (n === 0) break;
      got += n;
    }
    if (got < want) return { written: 0, leaves, shortRead: got };
  }
  const nonce = Buffer.alloc(12);
  let w = job.outAt;
  let leaf = tools.createHash('sha256');
  for (let i = 0; i < frames; i++) {
    const segment = job.firstSegment + i;
    const final = i === full;
    // nonce = 11-byte big-endian segment counter ‖ final flag (docs/release-format.md §3.3)
    nonce.writeUInt32BE(Math.floor(segment / 0x1_0000_0000), 3);
    nonce.writeUInt32BE(segment >>> 0, 7);
    nonce[11] = final ? 1 : 0;
    if (job.op === 'seal') {
      const cipher = tools.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      const ct = cipher.update(input.subarray(i * S, final ? job.length : (i + 1) * S));
      cipher.final();
      const start = w;
      // `fill` with a buffer value is a plain memcpy; `copy` into shared memory is a word-by-word one.
      if (ct.byteLength > 0) output.fill(ct, w, w + ct.byteLength);
      w += ct.byteLength;
      tools.free(ct);
      w += cipher.getAuthTag().copy(output, w);
      leaf.update(output.subarray(start, w));
    } else {
      const frame = input.subarray(i * F, i * F + (final ? job.finalFrame : F));
      leaf.update(frame);
      const decipher = tools.createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      decipher.setAuthTag(frame.subarray(frame.byteLength - 16));
      const plain = decipher.update(frame.subarray(0, frame.byteLength - 16));
      let verified = true;
      try {
        decipher.final();
      } catch {
        verified = false;
      }
      if (!verified) {
        tools.free(plain); // unverified plaintext: dropped now, never copied anywhere
        return { written: w - job.outAt, leaves, failedSegment: segment };
      }
      if (plain.byteLength > 0) output.fill(plain, w, w + plain.byteLength);
      w += plain.byteLength;
      tools.free(plain);
    }
    if ((i + 1) % leafFrames === 0 || i === frames - 1) {
      leaf.digest().copy(leaves, Math.floor(i / leafFrames) * 32);
      leaf = tools.createHash('sha256');
    }
  }
  return { written: w - job.outAt, leaves };
};
