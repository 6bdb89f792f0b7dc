import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { configPath, isCleartextRemote, normaliseEndpoint, readConfig, resolveSession, writeConfig } from '#cli/config.ts';
import { UsageError } from '#cli/errors.ts';

const tempDir = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-config-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
};
const modeOf = async (file: string) => (await stat(file)).mode & 0o777;

describe('writeConfig', () => {
  it('writes the file 0600 in a new directory made 0700', async () => {
    // Prepare
    const file = path.join(await tempDir(), 'nested', 'latchkey', 'config.json');

    // Act
    await writeConfig(file, { endpoint: 'https://api.example.com', token: 'lk_secret' });

    // Assess
    expect(await modeOf(file)).toBe(0o600);
    expect(await modeOf(path.dirname(file))).toBe(0o700);
    expect(await modeOf(path.dirname(path.dirname(file)))).toBe(0o700);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ endpoint: 'https://api.example.com', token: 'lk_secret' });
  });

  it('replaces a file that was too open with a 0600 one, leaving no temporary file behind', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'config.json');
    await writeFile(file, '{"token":"old"}');
    await chmod(file, 0o644);

    await writeConfig(file, { token: 'lk_new' });

    expect(await modeOf(file)).toBe(0o600);
    expect(await readdir(dir)).toEqual(['config.json']);
  });

  it('does not change the mode of a directory it did not create', async () => {
    const dir = await tempDir();
    await chmod(dir, 0o755);
    await writeConfig(path.join(dir, 'config.json'), { token: 'lk_x' });
    expect(await modeOf(dir)).toBe(0o755);
  });
});

describe('readConfig', () => {
  it('treats a missing file as an empty config', async () => {
    const loaded = await readConfig(path.join(await tempDir(), 'none.json'));
    expect(loaded).toMatchObject({ config: {}, exists: false });
  });

  it('reads back what writeConfig wrote, and flags a file others can read', async () => {
    const file = path.join(await tempDir(), 'config.json');
    await writeConfig(file, { endpoint: 'https://a.example', token: 'lk_t' });
    expect(await readConfig(file)).toMatchObject({ config: { endpoint: 'https://a.example', token: 'lk_t' }, exists: true, tooOpen: false });
    await chmod(file, 0o640);
    expect((await readConfig(file)).tooOpen).toBe(true);
  });

  it('refuses a broken file with a usage error that does not quote its content', async () => {
    const file = path.join(await tempDir(), 'config.json');
    await writeFile(file, '{"token": "lk_secret", ');
    const error = await readConfig(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).not.toContain('lk_secret');
  });
});

describe('session and paths', () => {
  it('lets LATCHKEY_ENDPOINT and LATCHKEY_TOKEN override the file, each on its own', () => {
    const stored = { endpoint: 'https://file.example', token: 'lk_file' };
    expect(resolveSession({}, stored)).toEqual(stored);
    expect(resolveSession({ LATCHKEY_TOKEN: 'lk_env' }, stored)).toEqual({ endpoint: 'https://file.example', token: 'lk_env' });
    expect(resolveSession({ LATCHKEY_ENDPOINT: 'https://env.example' }, stored)).toEqual({ endpoint: 'https://env.example', token: 'lk_file' });
    expect(resolveSession({ LATCHKEY_ENDPOINT: '', LATCHKEY_TOKEN: '' }, stored)).toEqual(stored);
  });

  it('finds the config at $LATCHKEY_CONFIG, else under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(configPath({ LATCHKEY_CONFIG: '/x/c.json', XDG_CONFIG_HOME: '/xdg' })).toBe('/x/c.json');
    expect(configPath({ XDG_CONFIG_HOME: '/xdg' })).toBe('/xdg/latchkey/config.json');
    expect(configPath({})).toMatch(/\.config\/latchkey\/config\.json$/);
  });

  it('normalises endpoints and refuses what is not one', () => {
    expect(normaliseEndpoint('https://api.example.com/')).toBe('https://api.example.com');
    expect(normaliseEndpoint('https://abc.execute-api.eu-west-1.amazonaws.com/prod/')).toBe('https://abc.execute-api.eu-west-1.amazonaws.com/prod');
    for (const bad of ['api.example.com', 'ftp://x', 'https://u:p@x', 'https://x/?a=1']) {
      expect(() => normaliseEndpoint(bad)).toThrow(UsageError);
    }
  });

  it('knows plain HTTP is only harmless on this machine', () => {
    expect(isCleartextRemote('http://127.0.0.1:4000')).toBe(false);
    expect(isCleartextRemote('http://localhost:4000')).toBe(false);
    expect(isCleartextRemote('http://api.example.com')).toBe(true);
    expect(isCleartextRemote('https://api.example.com')).toBe(false);
  });
});
