/**
 * Where the time goes: core-seconds per GiB for each piece of work a release encrypt or decrypt
 * must do, measured on this machine in the same run as the tools. Each phase runs alone on one
 * thread, so process CPU time (user + system) is the phase's cost.
 * Usage: node budget-child.mjs <input file> <scratch output path>
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';

const [input, scratch] = process.argv.slice(2);
if (!input || !scratch) throw new Error('usage: budget-child <input> <scratch>');
const GiB = 2 ** 30;
const CHUNK = 2 << 20;
const SEGMENT = 65536;
const buf = randomBytes(CHUNK);

/** Core-seconds (user, system) per GiB of `fn`, which processes `bytes` bytes. */
const measure = (bytes: number, fn: () => void): { user: number; sys: number } => {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return { user: ((c.user / 1e6) * GiB) / bytes, sys: ((c.system / 1e6) * GiB) / bytes };
};

const key = randomBytes(32);
const nonce = Buffer.alloc(12);
const tag = Buffer.alloc(16);
const result = {
  sha256: measure(GiB, () => {
    const h = createHash('sha256');
    for (let done = 0; done < GiB; done += CHUNK) h.update(buf);
    h.digest();
  }),
  // One cipher per 64 KiB segment, as the release format requires (output discarded).
  aesGcmEncrypt: measure(GiB, () => {
    for (let done = 0; done < GiB; done += CHUNK) {
      for (let off = 0; off < CHUNK; off += SEGMENT) {
        const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
        c.update(buf.subarray(off, off + SEGMENT));
        c.final();
        c.getAuthTag();
      }
    }
  }),
  aesGcmDecrypt: measure(GiB, () => {
    for (let done = 0; done < GiB; done += CHUNK) {
      for (let off = 0; off < CHUNK; off += SEGMENT) {
        const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
        d.setAuthTag(tag);
        d.update(buf.subarray(off, off + SEGMENT));
        try {
          d.final(); // fails (random tag), but only after the full GHASH
        } catch {
          /* expected */
        }
      }
    }
  }),
  // The input file, as the tools read it (page cache, 2 MiB reads).
  readFile: (() => {
    const fd = openSync(input, 'r');
    let total = 0;
    const r = measure(GiB, () => {
      for (let n; (n = readSync(fd, buf, 0, CHUNK, null)) > 0; ) total += n;
    });
    closeSync(fd);
    return { user: (r.user * GiB) / total, sys: (r.sys * GiB) / total };
  })(),
  // A new 1 GiB file, as the tools write their output (page cache; no fsync).
  writeFile: (() => {
    const fd = openSync(scratch, 'w');
    const r = measure(GiB, () => {
      for (let done = 0; done < GiB; done += CHUNK) writeSync(fd, buf, 0, CHUNK);
    });
    closeSync(fd);
    unlinkSync(scratch);
    return r;
  })(),
};
process.stdout.write(JSON.stringify(result) + '\n');
