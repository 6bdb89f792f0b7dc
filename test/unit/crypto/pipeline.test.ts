import { describe, expect, it } from 'vitest';
import { BufferPool, InOrder, release } from '../../../shared/crypto/pipeline.ts';

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

describe('InOrder', () => {
  it('runs steps in the order added, whatever order their results come in', async () => {
    const seen: number[] = [];
    const inOrder = new InOrder();
    let resolveFirst!: (n: number) => void;
    inOrder.add(new Promise<number>((r) => (resolveFirst = r)), (n) => seen.push(n));
    inOrder.add(Promise.resolve(2), (n) => seen.push(n));
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([]);
    resolveFirst(1);
    await inOrder.done();
    expect(seen).toEqual([1, 2]);
  });

  it('reports the first failure in order and skips the steps after it', async () => {
    const seen: string[] = [];
    const inOrder = new InOrder();
    let failFirst!: (e: Error) => void;
    inOrder.add(new Promise<string>((_, reject) => (failFirst = reject)), (s) => seen.push(s));
    inOrder.add(Promise.reject(new Error('second')), (s: string) => seen.push(s));
    inOrder.add(Promise.resolve('third'), (s) => seen.push(s));
    failFirst(new Error('first'));
    await expect(inOrder.done()).rejects.toThrow('first');
    await expect(inOrder.failed).rejects.toThrow('first');
    expect(seen).toEqual([]);
  });
});
