import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { create as createTar } from 'tar';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { signingKeyStatementOf, vouchForSigningKey, type VouchedSigningKey } from '#shared/protocol/signing-keys.ts';
import { keyFingerprint, toB64 } from '#shared/protocol/trust.ts';
import { localClients, waitFor } from '../support/clients.ts';
import { currentOf, deployAndWait, expectSucceeded, startTarget, untilEnded, type Cli, type Deployment } from '../support/deploy-agents.ts';
import { push, replaceReleaseArchive } from '../support/deploy-release.ts';
import { cliSession } from './cli/run-cli.ts';

const source = async (files: Record<string, string>) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-vouch-src-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
  return dir;
};

/**
 * What a compromised backend would do to a plain release (docs/threat-model.md): put a release of
 * its own in the bucket, sign a manifest for it with a key of its own, and name that key as the
 * pusher's, with a statement for it that it made up. Only the owner's statement, checked under
 * the owner key the target pinned, stands between that and an install.
 */
const swapRelease = async (cli: Cli, ids: { accountId: string; appId: string; releaseId: string; ownerId: string }, vouchFor: (key: { publicKey: Uint8Array; privateKey: Uint8Array }) => VouchedSigningKey | undefined) => {
  const { dynamo, env } = localClients();
  const dir = await source({ 'index.html': '<h1>owned</h1>\n', 'latchkey.yml': 'install: echo backend was here\n' });
  const archive = path.join(dir, '..', `${path.basename(dir)}.tar.gz`);
  onTestFinished(() => rm(archive, { force: true }));
  await createTar({ gzip: true, file: archive, cwd: dir, portable: true }, ['.']);
  const attacker = generateRawKeyPair('ed25519');
  await replaceReleaseArchive(cli, ids, await readFile(archive), attacker);
  const vouch = vouchFor(attacker);
  await dynamo.send(
    new UpdateCommand({
      TableName: env.DIRECTORY_TABLE!,
      Key: { pk: `ACCOUNT#${ids.accountId}`, sk: `USER#${ids.ownerId}` },
      UpdateExpression: 'SET signingKey = :key',
      ExpressionAttributeValues: { ':key': { publicKey: toB64(attacker.publicKey), registeredAt: new Date().toISOString(), ...(vouch ? { vouch } : {}) } },
    }),
  );
  return { fingerprint: keyFingerprint(attacker.publicKey), restore: (signingKey: unknown) => dynamo.send(new UpdateCommand({ TableName: env.DIRECTORY_TABLE!, Key: { pk: `ACCOUNT#${ids.accountId}`, sk: `USER#${ids.ownerId}` }, UpdateExpression: 'SET signingKey = :key', ExpressionAttributeValues: { ':key': signingKey } })) };
};

describe('plain deploy: the pusher key is the one the owner vouched for', () => {
  it('a release whose signing key the backend swapped is refused by the target, and the deployment fails naming why', { timeout: 240_000 }, async () => {
    // Prepare: a plain app with a good release installed; the owner's key is vouched at signup.
    const cli = await cliSession();
    const { accountId, ownerId } = await cli.signup();
    await cli.json(['envs', 'create', 'web']);
    await cli.json(['apps', 'create', 'site']);
    const good = await push(cli, 'site', await source({ 'index.html': '<h1>v1</h1>\n', 'latchkey.yml': 'install: echo installed\n' }), '1.0.0');
    const target = await startTarget(cli, 'tw', ['web']);
    const appDir = target.appDir(good.appId);
    expectSucceeded(await deployAndWait(cli, 'site', '1.0.0', 'web'));
    const live = await currentOf(appDir);
    const { dynamo, env } = localClients();
    const userKey = { pk: `ACCOUNT#${accountId}`, sk: `USER#${ownerId}` };
    const { Item: owner } = await dynamo.send(new GetCommand({ TableName: env.DIRECTORY_TABLE!, Key: userKey, ConsistentRead: true }));
    const genuine = owner!.signingKey as { publicKey: string; vouch: VouchedSigningKey };
    expect(genuine.vouch.statement).toMatchObject({ accountId, userId: ownerId, publicKey: genuine.publicKey });

    // Act and assess: three ways to name the backend's key, each refused by the target before download.
    const cases: { version: string; vouchFor: Parameters<typeof swapRelease>[2]; why: string }[] = [
      { version: '2.0.0', vouchFor: () => undefined, why: 'the account owner has not vouched for it' },
      // The owner's genuine statement, for the owner's own key, kept beside the swapped key.
      { version: '2.1.0', vouchFor: () => genuine.vouch, why: 'it vouches for another key' },
      // A statement for the swapped key, signed by a key that is not the owner key.
      { version: '2.2.0', vouchFor: (key) => vouchForSigningKey(generateRawKeyPair('ed25519').privateKey, signingKeyStatementOf({ accountId, userId: ownerId }, toB64(key.publicKey), new Date().toISOString())), why: 'it is not signed by the account owner key' },
    ];
    for (const { version, vouchFor, why } of cases) {
      const release = await push(cli, 'site', await source({ 'index.html': `<h1>${version}</h1>\n`, 'latchkey.yml': 'install: echo installed\n' }), version);
      const swapped = await swapRelease(cli, { accountId, appId: good.appId, releaseId: release.releaseId, ownerId }, vouchFor);
      const refused = await deployAndWait(cli, 'site', version, 'web');
      const reason = `Failed on 1 of 1 targets. tw (${target.agentId}): UntrustedSigner: the release signer ${swapped.fingerprint} is refused: ${why}; nothing was installed`;
      if (version === '2.0.0') {
        // Without any statement the backend itself says so before any target is asked.
        expect(refused.outcome?.reason).toBe(`Release ${version} is signed with a key the account owner has not vouched for (\`latchkey keys vouch PERSON --key KEY\`): targets would refuse it`);
      } else {
        expect(refused.outcome?.reason).toBe(reason);
      }
      expect(refused.state).toBe('Failed');
      expect(await currentOf(appDir)).toBe(live);
      await swapped.restore(genuine);
    }
    // Nothing of the backend's was installed; with the owner's key back, the genuine release deploys again.
    expect(await readFile(path.join(appDir, 'current', 'index.html'), 'utf8')).toBe('<h1>v1</h1>\n');
    expectSucceeded(await deployAndWait(cli, 'site', '1.0.0', 'web'));
  });

  it('a person’s push is refused until the owner vouches for their key with the key they read out; the backend refuses a statement the owner key did not sign', { timeout: 240_000 }, async () => {
    // Prepare: an owner, a deployer logged in on a machine of their own (their CLI makes and registers a key), a target.
    const owner = await cliSession();
    const { accountId } = await owner.signup();
    await owner.json(['envs', 'create', 'web']);
    await owner.json(['apps', 'create', 'site']);
    const email = `deployer-${randomUUID()}@example.com`;
    const added = await owner.json<{ userId: string; firstToken: { secret: string } }>(['users', 'add', '--name', 'Grace Hopper', '--email', email, '--role', 'deployer']);
    const deployer = await cliSession();
    const login = await deployer.run(['login', '--endpoint', deployer.endpoint], { input: `${added.firstToken.secret}\n` });
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

  it('a request that names the pusher key without the owner’s statement is refused by the target itself', { timeout: 120_000 }, async () => {
    // Prepare: a vouched release, and a target that is not running yet, so its request waits on its queue.
    const cli = await cliSession();
    await cli.signup();
    await cli.json(['envs', 'create', 'web']);
    await cli.json(['apps', 'create', 'site']);
    const release = await push(cli, 'site', await source({ 'index.html': '<h1>v1</h1>\n', 'latchkey.yml': 'install: echo installed\n' }), '1.0.0');
    const target = await startTarget(cli, 'tq', ['web'], { run: false });
    const { deploymentId } = await cli.json<Deployment>(['deploy', 'site', '1.0.0', 'web']);

    // Act: the backend's request, as a backend that skips its own check would send it: without the statement.
    const { sqs } = localClients();
    const sent = await waitFor('the deploy request on the target queue', async () => {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: target.queueUrl, VisibilityTimeout: 60, WaitTimeSeconds: 1 }));
      return Messages[0];
    });
    const { signerVouch, ...request } = JSON.parse(sent.Body!) as { signerVouch?: VouchedSigningKey; manifestSigner: string };
    expect(signerVouch?.statement.publicKey).toBe(request.manifestSigner);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: target.queueUrl, ReceiptHandle: sent.ReceiptHandle! }));
    await sqs.send(new SendMessageCommand({ QueueUrl: target.queueUrl, MessageBody: JSON.stringify(request) }));
    target.start();

    // Assess: refused before download, and the deployment says which key and why.
    const ended = await untilEnded(cli, deploymentId);
    expect(ended.state).toBe('Failed');
    const fingerprint = keyFingerprint(Buffer.from(request.manifestSigner, 'base64url'));
    expect(ended.outcome?.reason).toBe(`Failed on 1 of 1 targets. tq (${target.agentId}): UntrustedSigner: the release signer ${fingerprint} is refused: the account owner has not vouched for it; nothing was installed`);
    await expect(readFile(path.join(target.appDir(release.appId), 'current', 'index.html'))).rejects.toThrow();
  });
});
