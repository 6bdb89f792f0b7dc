import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { plainManifest, releaseContext } from '#cli/commands/push.ts';
import { readKeyFile, signingKeyPath } from '#cli/keys.ts';
import { signManifest } from '#shared/crypto/index.ts';
import { newRequestId } from '../../support/agents.ts';
import { deployReleaseRequest, deploymentsItem, directoryItem, putDeploymentsItem, putDirectoryItem, requeue, updateDirectoryItem, type DeployReleaseRequest } from '../../support/backend-writes.ts';
import { localClients, waitFor } from '../../support/clients.ts';
import { currentOf, expectSucceeded, journalOf, startKeyServers, startTarget, untilEnded, type Deployment } from '../../support/deploy-agents.ts';
import { sourceDir as source } from '../../support/fault-stack.ts';
import { cliSession } from '../cli/run-cli.ts';

const { s3, dynamo, env } = localClients();
const GZIP = Buffer.from([0x1f, 0x8b]);

/** Every object in the releases bucket for the account, with its first bytes. */
const objectsOf = async (accountId: string) => {
  const { Contents = [] } = await s3.send(new ListObjectsV2Command({ Bucket: env.RELEASES_BUCKET!, Prefix: `accounts/${accountId}/` }));
  return Promise.all(
    Contents.map(async ({ Key }) => {
      const body = await (await s3.send(new GetObjectCommand({ Bucket: env.RELEASES_BUCKET!, Key }))).Body!.transformToByteArray();
      return { key: Key!, head: Buffer.from(body.subarray(0, 2)) };
    }),
  );
};

describe('a compromised backend turns a secure application plain', () => {
  it('the deployer’s push refuses to send plaintext (secure flag flipped, statement hidden, or rolled back); a plain release the target is sent anyway is refused as PlainReleaseOfSecureApp (or RolledBack); nothing readable reaches the bucket', { timeout: 360_000 }, async () => {
    // Prepare: two key servers, a target on prod; the owner makes vault secure (application
    // statement version 2); a deployer whose key the owner vouched for pushes and deploys 1.0.0
    // sealed, so their CLI and the target have both seen version 2.
    const owner = await cliSession();
    const { accountId } = await owner.signup();
    await owner.json(['envs', 'create', 'prod']);
    await startKeyServers(owner);
    const target = await startTarget(owner, 't1', ['prod']);
    const { appId } = await owner.json<{ appId: string }>(['apps', 'create', 'vault']);
    const statementKey = `STATEMENT#application#${appId}`;
    const plainStatement = (await directoryItem(accountId, statementKey))!;
    expect(plainStatement.statement).toMatchObject({ version: 1, secure: false });
    await owner.json(['apps', 'secure', 'vault']);
    const secureStatement = (await directoryItem(accountId, statementKey))!;
    const ownerKey = (await owner.json<{ ownerKey: { publicKey: string } }>(['keys', 'show'])).ownerKey.publicKey;
    const email = `deployer-${randomUUID()}@example.com`;
    const added = await owner.json<{ userId: string; firstToken: { secret: string } }>(['users', 'add', '--name', 'Dan Deployer', '--email', email, '--role', 'deployer']);
    const deployer = await cliSession();
    const ci = { env: { LATCHKEY_OWNER_KEY: ownerKey } };
    expect((await deployer.run(['login', '--endpoint', deployer.endpoint], { input: `${added.firstToken.secret}\n` })).code).toBe(0);
    await owner.json(['keys', 'vouch', email, '--key', (await deployer.json<{ signingKey: { publicKey: string } }>(['keys', 'show'])).signingKey.publicKey]);
    const dir = await source({ 'secret.txt': 'attack at dawn\n', 'latchkey.yml': 'install: echo installed\n' });
    const pushed = await deployer.run(['push', 'vault', dir, '--version', '1.0.0', '--json', '--seal-timeout', '20'], ci);
    expect(pushed.code, pushed.stderr).toBe(0);
    const sealed = JSON.parse(pushed.stdout) as { releaseId: string; encrypted: boolean };
    expect(sealed.encrypted).toBe(true);
    const first = await deployer.run(['deploy', 'vault', '1.0.0', 'prod', '--json'], ci);
    expect(first.code, first.stderr).toBe(0);
    expectSucceeded(await untilEnded(owner, (JSON.parse(first.stdout) as Deployment).deploymentId));
    const live = await currentOf(target.appDir(appId));
    const pushAgain = (version: string) => deployer.run(['push', 'vault', dir, '--version', version, '--seal-timeout', '20'], ci);
    const noPlainPush = async () => {
      expect((await owner.json<{ version: string }[]>(['releases', 'list', 'vault'])).map((r) => r.version)).toEqual(['1.0.0']);
      for (const object of await objectsOf(accountId)) expect(object.head.equals(GZIP), `${object.key} is a readable gzip`).toBe(false);
    };

    // Act and assess 1: the backend flips the application item to plain: the push is refused before anything is uploaded.
    await updateDirectoryItem(accountId, `APP#${appId}`, { secure: false });
    const flipped = await pushAgain('2.0.0');
    expect(flipped.code).toBe(1);
    expect(flipped.stderr).toContain('vault is secure by the owner\'s statement (version 2), but the API says plain; nothing was pushed');
    await noPlainPush();

    // 2: it also hides the owner's statement about the application: the deployer's CLI has seen it.
    await dynamo.send(new DeleteCommand({ TableName: env.DIRECTORY_TABLE!, Key: { pk: `ACCOUNT#${accountId}`, sk: statementKey } }));
    const hidden = await pushAgain('2.0.0');
    expect(hidden.code).toBe(1);
    expect(hidden.stderr).toContain('The API shows no owner statement for vault, but this machine has seen version 2 of it; nothing was pushed');
    await noPlainPush();

    // 3: it shows the owner's earlier, genuine statement (plain): older than the one seen.
    await putDirectoryItem(plainStatement);
    const rolledBack = await pushAgain('2.0.0');
    expect(rolledBack.code).toBe(1);
    expect(rolledBack.stderr).toContain('version 1 is older than version 2 seen before');
    await noPlainPush();

    // Act 4: a plain release of vault all the same — signed by the deployer's key, as a push with
    // other tools than the CLI would sign it — written to the bucket and the release table; the
    // deployer deploys it; the backend's own functions would not send it, so the backend puts the
    // request on the target's queue itself, first with the owner's newest statement (secure)…
    const releaseId = `rel_${randomBytes(16).toString('hex')}`;
    const objectKey = `accounts/${accountId}/apps/${appId}/releases/${releaseId}`;
    const bytes = execFileSync('tar', ['-czf', '-', '-C', await source({ 'secret.txt': 'attack at dawn\n', 'latchkey.yml': 'install: echo installed\n' }), '.']);
    const sha256 = createHash('sha256').update(bytes).digest();
    const signer = (await readKeyFile(signingKeyPath(deployer.configPath, added.userId)))!;
    const manifest = signManifest(plainManifest(releaseContext({ accountId, appId, releaseId }), bytes.length, sha256), { publicKey: signer.publicKey, privateKey: signer.privateKey! });
    const model = (await deploymentsItem(accountId, `RELEASE#${sealed.releaseId}`))!;
    await s3.send(new PutObjectCommand({ Bucket: env.RELEASES_BUCKET!, Key: objectKey, Body: bytes }));
    await putDeploymentsItem({ ...model, sk: `RELEASE#${releaseId}`, releaseId, version: '1.0.1', encrypted: false, objectKey, size: bytes.length, digest: sha256.toString('hex'), manifest: manifest.toString('base64url') });
    await putDirectoryItem(secureStatement);
    const started = await deployer.run(['deploy', 'vault', '1.0.1', 'prod', '--json'], ci);
    expect(started.code, started.stderr).toBe(0);
    const plainDeployment = JSON.parse(started.stdout) as Deployment;
    const ended = await untilEnded(owner, plainDeployment.deploymentId);
    expect(ended.outcome?.reason).toContain('PlainReleaseOfSecureApp');
    const request = await deployReleaseRequest(accountId, plainDeployment.deploymentId, target.agentId);
    expect(request.evidence.application.statement).toMatchObject({ version: 2, secure: true });
    const send = async (r: DeployReleaseRequest) => {
      const sent = { ...r, requestId: newRequestId() };
      await requeue(accountId, target.agentId, sent);
      return waitFor(`the target to answer ${sent.requestId}`, async () => (await journalOf(target.state)).find((e) => e.requestId === sent.requestId), 60_000);
    };
    const plain = await send(request);

    // … then with the owner's earlier statement, from before vault was secure.
    const older = await send({ ...request, evidence: { ...request.evidence, application: { statement: plainStatement.statement, signature: plainStatement.signature } } });

    // Assess 4: both refused; the target still runs the sealed 1.0.0.
    expect(plain).toMatchObject({ outcome: 'failed', error: { code: 'PlainReleaseOfSecureApp' } });
    expect(older).toMatchObject({ outcome: 'failed', error: { code: 'RolledBack' } });
    expect(await currentOf(target.appDir(appId))).toBe(live);
  });
});
