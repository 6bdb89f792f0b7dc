import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CryptoContext } from '../../../shared/crypto/index.ts';
import { CryptoError } from '../../../shared/crypto/index.ts';

export const releaseContext: CryptoContext = {
  account: 'acc-1',
  application: 'app-1',
  release: 'rel-1',
  purpose: 'release',
};

export const makeTempDir = (): { dir: string; files: () => string[]; cleanup: () => void } => {
  const dir = mkdtempSync(join(tmpdir(), 'lk-crypto-'));
  return { dir, files: () => readdirSync(dir).sort(), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
};

/** Runs `f`, expecting a CryptoError; returns it (fails the test on success or on another error). */
export const rejection = async (f: () => Promise<unknown>): Promise<CryptoError> => {
  try {
    await f();
  } catch (e) {
    if (e instanceof CryptoError) return e;
    throw e;
  }
  throw new Error('expected a CryptoError, but the operation succeeded');
};

/** Deterministic bytes for readable failures. */
export const pattern = (n: number, seed = 1): Buffer => {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
};
