import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { signingKeyStatementOf, vouchForSigningKey } from '#shared/protocol/signing-keys.ts';
import { toB64 } from '#shared/protocol/trust.ts';
import { deployAndWait, expectSucceeded, startTarget } from '../support/deploy-agents.ts';
import { push } from '../support/deploy-release.ts';
import { cliSession } from './cli/run-cli.ts';

const source = async (files: Record<string, string>) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-vouch-src-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
  return dir;
};

describe('a pusher’s key is the one the owner vouched for', () => {
  it('a person’s push is refused until the owner vouches for their key with the key they read out; the backend refuses a statement the owner key did not sign', { timeout: 240_000 }, async () => {
    // Prepare: an owner, a deployer logged in on a machine of their own (their CLI makes and registers a key), a target.
    const owner = await cliSession();
    const { accountId } = await owner.signup();
    await owner.json(['envs', 'create', 'web']);
    await owner.json(['apps', 'create', 'site']);
    const email = `deployer-${randomUUID()}@example.com`;
    const added = await owner.json<{ userId: string; firstToken: { secret: string } }>(['users', 'add', '--name', 'Grace Hopper', '--email', email, '--role', 'deployer']);
    const deployer = await cliSession();
    const ownerKey = (await owner.json<{ ownerKey: { publicKey: string } }>(['keys', 'show'])).ownerKey.publicKey;
    const login = await deployer.run(['login', '--endpoint', deployer.endpoint, '--owner-key', ownerKey], { input: `${added.firstToken.secret}\n` });
    expect(login.code, login.stderr).toBe(0);
    const key = (await deployer.json<{ signingKey: { publicKey: string; fingerprint: string } }>(['keys', 'show'])).signingKey;
    expect(login.stdout + login.stderr).toContain(`latchkey keys vouch ${email} --key ${key.publicKey}`);
    const target = await startTarget(owner, 'tw', ['web']);
    const files = { 'index.html': '<h1>grace</h1>\n', 'latchkey.yml': 'install: echo installed\n' };

    // Act and assess 1: unvouched, the push is refused before anything is uploaded.
    const refused = await deployer.run(['push', 'site', await source(files), '--version', '1.0.0', '--json']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`Your release-signing key ${key.fingerprint} is not vouched for by the account owner yet`);
    expect(await owner.json<unknown[]>(['releases', 'list', 'site'])).toEqual([]);

    // 2: the backend keeps only a statement the owner key signed, for the key the person registered.
    const { token } = await owner.savedConfig();
    const put = (body: unknown) =>
      fetch(`${owner.endpoint}/users/${added.userId}/signing-key/vouch`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const statement = signingKeyStatementOf({ accountId, userId: added.userId }, key.publicKey, new Date().toISOString());
    const forged = await put(vouchForSigningKey(generateRawKeyPair('ed25519').privateKey, statement));
    expect(forged.status).toBe(400);
    expect(forged.headers.get('content-type')).toContain('application/problem+json');
    expect(await forged.json()).toMatchObject({ status: 400, field: 'vouch', title: 'vouch: it is not signed by the account owner key' });
    const otherKey = await owner.run(['keys', 'vouch', email, '--key', toB64(generateRawKeyPair('ed25519').publicKey)]);
    expect(otherKey.code).toBe(1);
    expect(otherKey.stderr).toContain('it vouches for another key');

    // 3: vouched with the key the person read out: the push goes through and the target installs it.
    const vouched = await owner.run(['keys', 'vouch', email, '--key', key.publicKey]);
    expect(vouched.code, vouched.stderr).toBe(0);
    expect(vouched.stdout).toContain(`Vouched for ${email}'s release-signing key ${key.fingerprint}`);
    const pushed = await push(deployer, 'site', await source(files), '1.0.0');
    expect(pushed.state).toBe('ready');
    const deployed = await deployAndWait(deployer, 'site', '1.0.0', 'web');
    expectSucceeded(deployed);
    expect(await readFile(path.join(target.appDir(pushed.appId), 'current', 'index.html'), 'utf8')).toBe(files['index.html']);
  });
});
