import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { keyFingerprint, toB64 } from '#shared/protocol/trust.ts';
import { init } from '#agent/commands/init.ts';
import { readState, statePaths } from '#agent/state.ts';
import { tempDir } from './fixtures.ts';

const ownerKey = () => generateRawKeyPair('ed25519').publicKey;

const initialised = async () => {
  const dir = join(await tempDir(), 'state');
  const key = ownerKey();
  const out: string[] = [];
  await init({ state: dir, endpoint: 'https://api.example.com/', ownerKey: toB64(key) }, (text) => out.push(text));
  return { dir, key, out: out.join('') };
};

describe('agent state directory', () => {
  it('init creates a 0700 directory with 0600 key and state files, and pins the owner key', async () => {
    const { dir, key, out } = await initialised();

    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const paths = statePaths(dir);
    expect((await stat(paths.keys)).mode & 0o777).toBe(0o600);
    expect((await stat(paths.state)).mode & 0o777).toBe(0o600);
    const state = await readState(dir);
    expect(state).toEqual({ v: 1, endpoint: 'https://api.example.com', ownerKey: toB64(key) });
    expect(out).toContain(keyFingerprint(key));
  });

  it.each([
    ['the state file', (dir: string) => statePaths(dir).state, 0o644],
    ['the key file', (dir: string) => statePaths(dir).keys, 0o640],
    ['the directory', (dir: string) => dir, 0o755],
  ])('refuses to load when %s is readable by others', async (_what, pathOf, mode) => {
    const { dir } = await initialised();
    await chmod(pathOf(dir), mode);

    await expect(readState(dir)).rejects.toThrow(/must not be accessible by group or others/);
  });

  it('never initialises over an existing agent', async () => {
    const { dir } = await initialised();
    const before = await readFile(statePaths(dir).keys);

    await expect(init({ state: dir, endpoint: 'https://api.example.com', ownerKey: toB64(ownerKey()) }, () => {})).rejects.toThrow(/already holds an agent/);
    expect((await readFile(statePaths(dir).keys)).equals(before)).toBe(true);
  });

  it('asks for the public key when given a fingerprint, which cannot check signatures', async () => {
    const dir = join(await tempDir(), 'state');

    await expect(init({ state: dir, endpoint: 'https://api.example.com', ownerKey: keyFingerprint(ownerKey()) }, () => {})).rejects.toThrow(
      /not its fingerprint/,
    );
  });

  it('refuses an owner key whose fingerprint is not the expected one, writing nothing', async () => {
    const base = await tempDir();
    const dir = join(base, 'state');

    await expect(
      init({ state: dir, endpoint: 'https://api.example.com', ownerKey: toB64(ownerKey()), expectFingerprint: keyFingerprint(ownerKey()) }, () => {}),
    ).rejects.toThrow(/not the expected/);
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });

  it('refuses a plain-http endpoint except on this machine', async () => {
    const dir = join(await tempDir(), 'state');

    await expect(init({ state: dir, endpoint: 'http://api.example.com', ownerKey: toB64(ownerKey()) }, () => {})).rejects.toThrow(/https/);
    await expect(init({ state: dir, endpoint: 'http://127.0.0.1:4000', ownerKey: toB64(ownerKey()) }, () => {})).resolves.toBeUndefined();
  });
});
