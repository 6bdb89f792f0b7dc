import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { keyFingerprint, toB64 } from '#shared/protocol/trust.ts';
import { startKeyServer, untilAgents } from '../../support/agents.ts';
import { directoryItem, updateDirectoryItem } from '../../support/backend-writes.ts';
import { cliSession } from '../cli/run-cli.ts';

describe('the owner key a CLI checks signatures against', () => {
  it('is never the API’s word: a fresh CLI with no pinned owner key and no LATCHKEY_OWNER_KEY refuses to push a secure application, whatever owner key the backend names', { timeout: 180_000 }, async () => {
    // Prepare: a secure application with two confirmed key servers; a deployer whose signing key
    // the owner vouched for, on a machine where they did not pin the owner key at login (as a
    // fresh CI container has none).
    const owner = await cliSession();
    const { accountId } = await owner.signup();
    await startKeyServer(owner, 'k1');
    await startKeyServer(owner, 'k2');
    await untilAgents(owner, 'both key servers to hold v1', (l) => ['k1', 'k2'].every((n) => l[n]?.online && l[n].masterVersions.includes(1)));
    await owner.json(['apps', 'create', 'vault']);
    await owner.json(['apps', 'secure', 'vault']);
    const genuine = (await owner.json<{ ownerKey: { publicKey: string } }>(['keys', 'show'])).ownerKey.publicKey;
    const email = `deployer-${randomUUID()}@example.com`;
    const added = await owner.json<{ firstToken: { secret: string } }>(['users', 'add', '--name', 'Dan Deployer', '--email', email, '--role', 'deployer']);
    const deployer = await cliSession();
    const login = await deployer.run(['login', '--endpoint', deployer.endpoint], { input: `${added.firstToken.secret}\n` });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toContain('Not pinned');
    const signingKey = (await deployer.json<{ signingKey: { publicKey: string } }>(['keys', 'show'])).signingKey.publicKey;
    await owner.json(['keys', 'vouch', email, '--key', signingKey]);
    const source = await mkdtemp(path.join(tmpdir(), 'latchkey-pin-src-'));
    onTestFinished(() => rm(source, { recursive: true, force: true }));
    await writeFile(path.join(source, 'secret.txt'), 'attack at dawn\n');
    const pinFile = path.join(path.dirname(deployer.configPath), `owner-key.${accountId}.json`);

    // Act 1: the backend names an owner key of its own.
    const account = (await directoryItem(accountId, 'ACCOUNT'))!;
    const forged = generateRawKeyPair('ed25519');
    await updateDirectoryItem(accountId, 'ACCOUNT', { ownerKey: { publicKey: toB64(forged.publicKey), registeredAt: new Date().toISOString() } });
    const unpinned = await deployer.run(['push', 'vault', source, '--version', '1.0.0']);

    // Assess 1: refused before anything is uploaded, saying how to pin; nothing of the backend's was pinned.
    expect(unpinned.code).toBe(1);
    expect(unpinned.stderr).toContain(`No owner key is pinned on this machine for account ${accountId}`);
    expect(unpinned.stderr).toContain('LATCHKEY_OWNER_KEY');
    await expect(stat(pinFile)).rejects.toThrow();
    expect(await owner.json<unknown[]>(['releases', 'list', 'vault'])).toEqual([]);

    // Act and assess 2: in CI, LATCHKEY_OWNER_KEY names the genuine key: the backend's is refused.
    const ci = { env: { LATCHKEY_OWNER_KEY: genuine } };
    const swapped = await deployer.run(['push', 'vault', source, '--version', '1.0.0'], ci);
    expect(swapped.code).toBe(1);
    expect(swapped.stderr).toContain(`The API names owner key ${keyFingerprint(forged.publicKey)}, but LATCHKEY_OWNER_KEY pins ${keyFingerprint(Buffer.from(genuine, 'base64url'))}`);
    expect(await owner.json<unknown[]>(['releases', 'list', 'vault'])).toEqual([]);

    // 3: with the genuine key back, the same CI push works.
    await updateDirectoryItem(accountId, 'ACCOUNT', { ownerKey: account.ownerKey });
    const pushed = await deployer.run(['push', 'vault', source, '--version', '1.0.0', '--json'], ci);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(JSON.parse(pushed.stdout)).toMatchObject({ encrypted: true, state: 'ready' });
  });
});
