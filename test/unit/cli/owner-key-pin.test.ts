import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { keyFingerprint, toB64 } from '#shared/protocol/trust.ts';
import { createContext } from '#cli/context.ts';
import { releaseSigner, trustedOwnerKey } from '#cli/keys.ts';
import { fakeApi, hex, iso, runCli } from './fake-api.ts';

const accountId = `acc_${hex(1)}`;
const deployer = { userId: `usr_${hex(2)}`, name: 'Grace Hopper', email: 'grace@example.com', role: 'deployer' as const, status: 'active' as const, createdAt: iso };
const ownerKey = generateRawKeyPair('ed25519').publicKey;
const registered = { publicKey: toB64(ownerKey), fingerprint: keyFingerprint(ownerKey) };
const me = { accountId, accountName: 'Acme', user: deployer, tokenId: `tok_${hex(3)}`, ownerKey: registered, signingKey: { publicKey: toB64(Buffer.alloc(32, 7)), fingerprint: 'f' } };

const machine = async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'latchkey-pin-'));
  onTestFinished(() => rm(root, { recursive: true, force: true }));
  const configPath = path.join(root, 'latchkey', 'config.json');
  return { configPath, pinFile: path.join(root, 'latchkey', `owner-key.${accountId}.json`), env: { LATCHKEY_CONFIG: configPath, LATCHKEY_TOKEN: '' } };
};
const login = (host: Awaited<ReturnType<typeof machine>>, args: string[], secret = '') => runCli(['login', '--token', 'lk_x', ...args], fakeApi({ 'GET /me': () => ({ body: me }) }), { env: host.env, secret });

describe('the CLI pins the owner key explicitly', () => {
  it('login --owner-key pins the key the owner read out when the API names the same one', async () => {
    const host = await machine();
    const result = await login(host, ['--owner-key', registered.publicKey]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`Pinned the owner key ${registered.fingerprint}`);
    expect(JSON.parse(await readFile(host.pinFile, 'utf8'))).toMatchObject({ kind: 'owner', accountId, publicKey: registered.publicKey });
    expect(JSON.parse(await readFile(host.pinFile, 'utf8')).privateKey).toBeUndefined();
    expect((await stat(host.pinFile)).mode & 0o777).toBe(0o600);
  });

  it('login --owner-key refuses, saving nothing, when the API names another key', async () => {
    const host = await machine();
    const other = toB64(generateRawKeyPair('ed25519').publicKey);
    const result = await login(host, ['--owner-key', other]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`The API names owner key ${registered.fingerprint}, not the key you gave`);
    await expect(stat(host.pinFile)).rejects.toThrow();
    await expect(stat(host.configPath)).rejects.toThrow();
  });

  it('login without --owner-key shows the fingerprint and pins it only once the person confirms', async () => {
    const declined = await machine();
    const no = await login(declined, [], '');
    expect(no.code).toBe(0);
    expect(no.stderr).toContain(`fingerprint  ${registered.fingerprint}`);
    expect(no.stderr).toContain('Not pinned');
    await expect(stat(declined.pinFile)).rejects.toThrow();

    const confirmed = await machine();
    const yes = await login(confirmed, [], 'yes');
    expect(yes.code).toBe(0);
    expect(JSON.parse(await readFile(confirmed.pinFile, 'utf8')).publicKey).toBe(registered.publicKey);
  });

  it('with nothing pinned and no LATCHKEY_OWNER_KEY, checking a signature is refused, saying how to pin; LATCHKEY_OWNER_KEY must be the key the API names', async () => {
    const host = await machine();
    const ctxWith = (env: Record<string, string>) =>
      createContext({ stdout: () => {}, stderr: () => {}, env: { ...host.env, ...env }, fetch: globalThis.fetch, readSecret: async () => '' });
    await expect(trustedOwnerKey(ctxWith({}), me)).rejects.toThrow(`No owner key is pinned on this machine for account ${accountId}`);
    await expect(trustedOwnerKey(ctxWith({}), me)).rejects.toMatchObject({ hint: expect.stringContaining('LATCHKEY_OWNER_KEY') });
    expect(toB64(await trustedOwnerKey(ctxWith({ LATCHKEY_OWNER_KEY: registered.publicKey }), me))).toBe(registered.publicKey);
    await expect(trustedOwnerKey(ctxWith({ LATCHKEY_OWNER_KEY: toB64(generateRawKeyPair('ed25519').publicKey) }), me)).rejects.toThrow('but LATCHKEY_OWNER_KEY pins');
  });

  it('in CI, LATCHKEY_SIGNING_KEY signs releases with no key file, only when it is the registered, vouched key', async () => {
    const host = await machine();
    const ctxWith = (env: Record<string, string>) =>
      createContext({ stdout: () => {}, stderr: () => {}, env: { ...host.env, ...env }, fetch: globalThis.fetch, readSecret: async () => '' });
    const pair = generateRawKeyPair('ed25519');
    const ci = { ...me, signingKey: { publicKey: toB64(pair.publicKey), fingerprint: keyFingerprint(pair.publicKey), vouched: true } };
    const client = {} as Parameters<typeof releaseSigner>[1];
    const out = { note: () => {} } as unknown as Parameters<typeof releaseSigner>[3];

    const signer = await releaseSigner(ctxWith({ LATCHKEY_SIGNING_KEY: toB64(pair.privateKey) }), client, ci, out);
    expect(toB64(signer.publicKey)).toBe(toB64(pair.publicKey));
    expect(signer.privateKey.equals(pair.privateKey)).toBe(true);

    await expect(releaseSigner(ctxWith({}), client, ci, out)).rejects.toMatchObject({ hint: expect.stringContaining('LATCHKEY_SIGNING_KEY') });
    await expect(releaseSigner(ctxWith({ LATCHKEY_SIGNING_KEY: toB64(generateRawKeyPair('ed25519').privateKey) }), client, ci, out)).rejects.toThrow('is not the one in LATCHKEY_SIGNING_KEY');
    await expect(releaseSigner(ctxWith({ LATCHKEY_SIGNING_KEY: toB64(pair.privateKey) }), client, { ...ci, signingKey: { ...ci.signingKey, vouched: false } }, out)).rejects.toThrow();
    await expect(releaseSigner(ctxWith({ LATCHKEY_SIGNING_KEY: 'not-a-key' }), client, ci, out)).rejects.toThrow('LATCHKEY_SIGNING_KEY must be');
  });
});
