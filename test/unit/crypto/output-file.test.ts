import { closeSync, constants, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BLOCK, BlockSink, writeAtomically } from '../../../shared/crypto/output-file.ts';
import { BufferPool, copyInto } from '../../../shared/crypto/pipeline.ts';
import { makeTempDir, pattern } from './helpers.ts';

const supportsDirectIo = (dir: string): boolean => {
  if (!constants.O_DIRECT) return false; // not a Linux build
  const probe = join(dir, 'probe');
  try {
    closeSync(openSync(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT));
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { force: true });
  }
};

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir();
});
afterEach(() => tmp.cleanup());

/** Writes `head` then `chunks` through a sink as the release pipeline does; returns whether direct I/O held. */
const writeChunks = async (path: string, direct: boolean, head: Buffer, chunks: Buffer[]): Promise<boolean> => {
  const pool = new BufferPool(10_000 + BLOCK, 2, { aligned: true });
  return writeAtomically(path, { durable: true, direct }, async (out) => {
    out.prepend(head);
    for (const chunk of chunks) {
      const buf = await pool.take();
      const end = copyInto(buf, out.begin(buf), chunk);
      out.end(buf, end, () => pool.give(buf));
    }
    return out.directIo;
  });
};

describe('block-aligned output file', () => {
  it('writes exactly the bytes given, across carried partial blocks, with and without direct I/O', async () => {
    const head = pattern(150, 1);
    const chunks = [pattern(10_000, 2), pattern(4096, 3), pattern(0, 4), pattern(1, 5), pattern(8191, 6), pattern(3, 7)];
    const expected = Buffer.concat([head, ...chunks]);
    const direct = await writeChunks(join(tmp.dir, 'direct'), true, head, chunks);
    await writeChunks(join(tmp.dir, 'buffered'), false, head, chunks);
    expect(readFileSync(join(tmp.dir, 'direct')).equals(expected)).toBe(true);
    expect(readFileSync(join(tmp.dir, 'buffered')).equals(expected)).toBe(true);
    // Direct I/O is used wherever the filesystem offers it; elsewhere the same bytes arrive buffered.
    expect(direct).toBe(supportsDirectIo(tmp.dir));
    expect(statSync(join(tmp.dir, 'direct')).mode & 0o777).toBe(0o600);
    expect(tmp.files()).toEqual(['buffered', 'direct']);
  });

  it('falls back to the page cache when memory is not block-aligned', async () => {
    const path = join(tmp.dir, 'unaligned');
    const data = pattern(3 * BLOCK + 5, 8);
    await writeAtomically(path, { durable: false, direct: true }, async (out) => {
      // A view one byte into an aligned buffer can never be aligned.
      const buf = (await new BufferPool(4 * BLOCK + 1, 1, { aligned: true }).take()).subarray(1);
      out.end(buf, copyInto(buf, out.begin(buf), data), () => {});
      await out.finish();
      expect(out.directIo).toBe(false);
    });
    expect(readFileSync(path).equals(data)).toBe(true);
  });

  it('removes the temporary file when the body fails, even with writes in flight', async () => {
    const path = join(tmp.dir, 'out');
    const pool = new BufferPool(8 * BLOCK, 1, { aligned: true });
    await expect(
      writeAtomically(path, { durable: false, direct: true }, async (out) => {
        const buf = await pool.take();
        out.end(buf, 8 * BLOCK, () => {});
        throw new Error('tag failed');
      }),
    ).rejects.toThrow('tag failed');
    expect(tmp.files()).toEqual([]);
  });

  it('refuses to create over an existing temporary name', async () => {
    const path = join(tmp.dir, 'taken');
    const sink = await BlockSink.create(path, true);
    await expect(BlockSink.create(path, true)).rejects.toMatchObject({ code: 'EEXIST' });
    await sink.close();
  });
});

describe('copyInto', () => {
  it('copies into shared and unshared memory, including nothing', () => {
    for (const dst of [Buffer.alloc(10), Buffer.from(new SharedArrayBuffer(10))]) {
      expect(copyInto(dst, 2, Buffer.from([1, 2, 3]))).toBe(5);
      expect(copyInto(dst, 5, Buffer.alloc(0))).toBe(5);
      expect([...dst]).toEqual([0, 0, 1, 2, 3, 0, 0, 0, 0, 0]);
      expect(() => copyInto(dst, 9, Buffer.from([1, 2]))).toThrow(RangeError);
    }
  });
});
