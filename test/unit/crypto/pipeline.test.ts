import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSha256Sink, hashInPieces } from '../../../shared/crypto/parallel-hash.ts';
import { BufferPool, release } from '../../../shared/crypto/pipeline.ts';
import { pattern } from './helpers.ts';

describe('release (free a cipher output now)', () => {
  it('frees a buffer that owns its whole ArrayBuffer', () => {
    const b = Buffer.allocUnsafeSlow(65536);
    release(b);
    expect(b.buffer.byteLength).toBe(0); // detached
  });

  it('leaves slices of larger buffers, pooled buffers and shared memory alone', () => {
    const big = Buffer.allocUnsafeSlow(1024);
    const slice = big.subarray(0, 512);
    release(slice);
    expect(big.buffer.byteLength).toBe(1024);
    const pooled = Buffer.from('small'); // from Node's shared 8 KiB pool
    release(pooled);
    expect(pooled.toString()).toBe('small');
    const shared = Buffer.from(new SharedArrayBuffer(64));
    release(shared);
    expect(shared.byteLength).toBe(64);
  });
});

describe('BufferPool', () => {
  it('hands out shared buffers when asked and bounds how many exist', async () => {
    const pool = new BufferPool(16, 2, { shared: true });
    const a = await pool.take();
    const b = await pool.take();
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    let third: Buffer | undefined;
    void pool.take().then((c) => (third = c));
    await Promise.resolve();
    expect(third).toBeUndefined();
    pool.give(a);
    await new Promise((r) => setImmediate(r));
    expect(third).toBe(a);
    expect(b).not.toBe(a);
  });
});

describe('SHA-256 sink', () => {
  it('hashes shared buffers in place and other buffers by copy, in order, on a worker', async () => {
    const chunks = [pattern(100_000, 1), pattern(3, 2), pattern(70_000, 3)];
    const expected = createHash('sha256');
    const sink = createSha256Sink('worker', undefined);
    expect(sink.parallel).toBe(true);
    const returned: Buffer[] = [];
    for (const [i, c] of chunks.entries()) {
      const buf = i % 2 === 0 ? Buffer.from(new SharedArrayBuffer(c.byteLength + 10)) : Buffer.alloc(c.byteLength + 10);
      buf.set(c);
      expected.update(c);
      sink.push(buf, c.byteLength, (b) => returned.push(b));
    }
    expect((await sink.digest()).equals(expected.digest())).toBe(true);
    expect(returned).toHaveLength(3);
  });

  it('hashes in pieces exactly as in one go, across piece boundaries', () => {
    for (const size of [0, 1, 63, 131_071, 131_072, 131_073, 300_001]) {
      const bytes = pattern(size, size);
      const h = createHash('sha256');
      hashInPieces(h, bytes);
      expect(h.digest('hex'), `${size} bytes`).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });

  it('hashes on the worker across piece boundaries', async () => {
    const bytes = pattern(1_000_003, 9);
    const shared = Buffer.from(new SharedArrayBuffer(bytes.byteLength));
    shared.set(bytes);
    const sink = createSha256Sink('worker', undefined);
    sink.push(shared, shared.byteLength, () => {});
    expect((await sink.digest()).equals(createHash('sha256').update(bytes).digest())).toBe(true);
  });

  it('hashes inline below the worker threshold', async () => {
    const sink = createSha256Sink('auto', 1000);
    expect(sink.parallel).toBe(false);
    sink.push(Buffer.from('abc'), 3, () => {});
    expect((await sink.digest()).toString('hex')).toBe(createHash('sha256').update('abc').digest('hex'));
  });
});
