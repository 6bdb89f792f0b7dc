/**
 * Where the time goes: core-seconds per GiB for each piece of work a release encrypt or decrypt
 * must do, measured on this machine in the same run as the tools. Each phase runs alone on one
 * thread, so process CPU time (user + system) is the phase's cost.
 * Usage: node budget-child.mjs <input file> <scratch output path>
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, readSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { copyInto, release } from '../shared/crypto/pipeline.ts';
import { leafFrames } from '../shared/crypto/release-digest.ts';
import { runChunk, type ChunkTools } from '../shared/crypto/segment-chunks.ts';

// Node's own start-up and loading this script: what every run of a Node tool pays first.
const boot = process.cpuUsage();

const [input, scratch] = process.argv.slice(2);
if (!input || !scratch) throw new Error('usage: budget-child <input> <scratch>');
const GiB = 2 ** 30;
const CHUNK = 1 << 20; // one digest leaf of 64 KiB segments: the pipeline's job size
const SEGMENT = 65536;
const FRAMES = CHUNK / SEGMENT;
const buf = randomBytes(CHUNK);
/**
 * The cipher and the digest stream through data another thread just wrote, in no cache of theirs;
 * cycling through 64 MiB (far more than a core's 2 MiB L2) probes them that way. A 2 MiB buffer
 * hashed over and over would stay in L2 and make SHA-256 look a third cheaper than it is.
 */
const STREAM = 64 << 20;
const stream = randomBytes(STREAM);
const chunkAt = (done: number): Buffer => stream.subarray(done % STREAM, (done % STREAM) + CHUNK);

/** Core-seconds (user, system) per GiB of `fn`, which processes `bytes` bytes. */
const measure = (bytes: number, fn: () => void): { user: number; sys: number } => {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return { user: ((c.user / 1e6) * GiB) / bytes, sys: ((c.system / 1e6) * GiB) / bytes };
};

/** CPU of starting a worker, until it answers its first message. */
const workerStart = async (): Promise<{ user: number; sys: number }> => {
  const c0 = process.cpuUsage();
  const w = new Worker("require('node:worker_threads').parentPort.postMessage(0)", { eval: true });
  await new Promise((resolve) => w.once('message', resolve));
  const c = process.cpuUsage(c0);
  await w.terminate();
  return { user: c.user / 1e6, sys: c.system / 1e6 };
};

/** A new file written as the pipeline writes with `flags`, from page-aligned memory (O_DIRECT needs it). */
const writeNewFile = (flags: number): { user: number; sys: number } => {
  const aligned = Buffer.from(new (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer } } }).WebAssembly.Memory({ initial: CHUNK / 65536, maximum: CHUNK / 65536 }).buffer);
  buf.copy(aligned);
  const fd = openSync(scratch, flags, 0o600);
  const r = measure(GiB, () => {
    for (let done = 0; done < GiB; done += CHUNK) writeSync(fd, aligned, 0, CHUNK);
  });
  closeSync(fd);
  unlinkSync(scratch);
  return r;
};

const key = randomBytes(32);
const G = leafFrames(SEGMENT);
const tools: ChunkTools = { createCipheriv, createDecipheriv, createHash, free: release, readSync };
const frames = Buffer.allocUnsafeSlow(FRAMES * (SEGMENT + 16));
const FRAMED = FRAMES * (SEGMENT + 16);
// The 64 MiB stream encrypted once, chunk by chunk, into a file (left in the page cache) for the
// decrypt probe to cycle through.
const sealedFile = `${scratch}.sealed`;
writeFileSync(
  sealedFile,
  Buffer.concat(
    Array.from({ length: STREAM / CHUNK }, (_, i) => {
      const c = Buffer.allocUnsafeSlow(FRAMED);
      runChunk(tools, key, SEGMENT, G, { op: 'seal', input: chunkAt(i * CHUNK), length: CHUNK, output: c, outAt: 0, firstSegment: i * FRAMES, final: false });
      return c;
    }),
  ),
);
readFileSync(sealedFile);
const inputChunk = Buffer.allocUnsafeSlow(FRAMED);
const nonce = Buffer.alloc(12);
const tag = Buffer.alloc(16);
const out = Buffer.allocUnsafeSlow(CHUNK);
const result = {
  startup: { user: boot.user / 1e6, sys: boot.system / 1e6 },
  workerStart: await workerStart(),
  // A lane's work per chunk, as the pipeline does it (segment-chunks.ts): read the chunk from the
  // file (page cache), then AES-GCM per segment and the digest leaf's SHA-256 over each frame,
  // while the bytes are in this core's cache.
  sealChunk: (() => {
    const fd = openSync(input, 'r');
    const r = measure(GiB, () => {
      for (let done = 0; done < GiB; done += CHUNK) {
        const job = { op: 'seal', input: inputChunk, length: CHUNK, output: frames, outAt: 0, firstSegment: 0, final: false, read: { fd, position: done } } as const;
        if (runChunk(tools, key, SEGMENT, G, job).shortRead !== undefined) throw new Error('probe input too short');
      }
    });
    closeSync(fd);
    return r;
  })(),
  openChunk: (() => {
    const fd = openSync(sealedFile, 'r');
    const r = measure(GiB, () => {
      for (let done = 0; done < GiB; done += CHUNK) {
        const i = (done % STREAM) / CHUNK;
        const job = { op: 'open', input: inputChunk, fullFrames: FRAMES, finalFrame: -1, output: out, outAt: 0, firstSegment: i * FRAMES, read: { fd, position: i * FRAMED } } as const;
        if (runChunk(tools, key, SEGMENT, G, job).failedSegment !== undefined) throw new Error('probe ciphertext did not verify');
      }
    });
    closeSync(fd);
    unlinkSync(sealedFile);
    return r;
  })(),
  // One cipher per 64 KiB segment, as the release format requires; each output copied into the
  // chunk buffer and freed at once, as the pipeline does.
  aesGcmEncrypt: measure(GiB, () => {
    for (let done = 0; done < GiB; done += CHUNK) {
      for (let off = 0; off < CHUNK; off += SEGMENT) {
        const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
        const ct = c.update(chunkAt(done).subarray(off, off + SEGMENT));
        c.final();
        c.getAuthTag();
        copyInto(out, off, ct);
        release(ct);
      }
    }
  }),
  aesGcmDecrypt: measure(GiB, () => {
    for (let done = 0; done < GiB; done += CHUNK) {
      for (let off = 0; off < CHUNK; off += SEGMENT) {
        const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
        d.setAuthTag(tag);
        const pt = d.update(chunkAt(done).subarray(off, off + SEGMENT));
        try {
          d.final(); // fails (random tag), but only after the full GHASH
        } catch {
          /* expected */
        }
        copyInto(out, off, pt); // the pipeline copies only verified plaintext; same cost
        release(pt);
      }
    }
  }),
  // The input file, as the tools read it (page cache, 1 MiB reads).
  readFile: (() => {
    const fd = openSync(input, 'r');
    let total = 0;
    const r = measure(GiB, () => {
      for (let n; (n = readSync(fd, buf, 0, CHUNK, null)) > 0; ) total += n;
    });
    closeSync(fd);
    return { user: (r.user * GiB) / total, sys: (r.sys * GiB) / total };
  })(),
  // A new 1 GiB file through the page cache (as every tool but the latchkey decrypter writes; no fsync).
  writeFile: writeNewFile(constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL),
  // The same with O_DIRECT, as the latchkey decrypter writes: the device DMAs from the buffers.
  writeFileDirect: writeNewFile(constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT),
};
process.stdout.write(JSON.stringify(result) + '\n');
