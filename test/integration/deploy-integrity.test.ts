import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { localClients, waitFor } from '../support/clients.ts';
import { accountWithKeyServers, currentOf, deployAndWait, expectSucceeded, journalOf, startTarget, untilEnded, type Deployment } from '../support/deploy-agents.ts';
import { machineDir, push, secretsSource } from '../support/deploy-release.ts';

const newRequestId = () => `req_${randomBytes(16).toString('hex')}`;

/** Flips one byte in the middle of the release object, as someone with write access to the bucket could. */
const tamperWith = async (accountId: string, releaseId: string) => {
  const { s3, env } = localClients();
  const Bucket = env.RELEASES_BUCKET!;
  const listed = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: `accounts/${accountId}/` }));
  const Key = listed.Contents!.map((o) => o.Key!).find((k) => k.includes(releaseId))!;
  const bytes = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray());
  bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
  await s3.send(new PutObjectCommand({ Bucket, Key, Body: bytes }));
};

/** The one request waiting on an agent's queue, read without taking it (visible again at once). */
const peek = async (queueUrl: string) => {
  const { sqs } = localClients();
  return waitFor('a request on the queue', async () => {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 0, WaitTimeSeconds: 1 }));
    return Messages[0] ? (JSON.parse(Messages[0].Body!) as Record<string, unknown>) : undefined;
  });
};

/** Puts a copy of a request, under a new id, on an agent's queue (what a compromised backend could do). */
const resend = async (queueUrl: string, request: Record<string, unknown>) => {
  const requestId = newRequestId();
  await localClients().sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ ...request, requestId }) }));
  return requestId;
};

const refusal = (state: string, requestId: string) =>
  waitFor(`the agent to answer ${requestId}`, async () => (await journalOf(state).catch(() => [])).find((entry) => entry.requestId === requestId), 30_000);

describe('secure deploy: integrity and rollback, with real agents', () => {
  it('rollback redeploys the previous release; an altered object, a grant for another target, a replayed grant and a foreign environment are refused, and `current` stays', { timeout: 300_000 }, async () => {
    // Prepare: key servers; dev with one target, qa with two (q2 not running yet); a secure app with three releases.
    const { cli, account } = await accountWithKeyServers();
    const machine = await machineDir('dev');
    const destination = path.join(machine, 'secret.cred');
    await cli.json(['envs', 'create', 'dev', '--var', 'SECRET_FILE=secret.cred.dev', '--var', `DESTINATION_FILE=${destination}`]);
    const qaMachine = await machineDir('qa');
    await cli.json(['envs', 'create', 'qa', '--var', 'SECRET_FILE=secret.cred.stage', '--var', `DESTINATION_FILE=${path.join(qaMachine, 'secret.cred')}`]);
    await cli.json(['apps', 'create', 'securekeys']);
    await cli.json(['apps', 'secure', 'securekeys']);
    const v1 = await secretsSource('1.0.0');
    const r1 = await push(cli, 'securekeys', v1.dir, '1.0.0');
    await push(cli, 'securekeys', (await secretsSource('1.1.0')).dir, '1.1.0');
    const r2 = await push(cli, 'securekeys', (await secretsSource('2.0.0')).dir, '2.0.0');
    const dev = await startTarget(cli, 't-dev', ['dev']);
    const q1 = await startTarget(cli, 'q1', ['qa']);
    const q2 = await startTarget(cli, 'q2', ['qa'], { run: false });
    const appDir = dev.appDir(r1.appId);
    const installedVersion = () => readFile(path.join(appDir, 'current', 'VERSION'), 'utf8');

    // Act and assess 1: 1.0.0, then 1.1.0; rollback goes back to 1.0.0 as a new deployment.
    expectSucceeded(await deployAndWait(cli, 'securekeys', '1.0.0', 'dev'));
    expectSucceeded(await deployAndWait(cli, 'securekeys', '1.1.0', 'dev'));
    expect(await installedVersion()).toBe('1.1.0\n');
    const rolledBack = await cli.json<Deployment>(['rollback', 'dev']);
    expect(rolledBack.releaseVersion).toBe('1.0.0');
    expectSucceeded(await untilEnded(cli, rolledBack.deploymentId));
    expect(await installedVersion()).toBe('1.0.0\n');
    expect(await readdir(path.join(appDir, 'releases'))).toHaveLength(3);
    const live = await currentOf(appDir);

    // 2: the 2.0.0 object altered in the bucket: refused, reported, nothing installed.
    await tamperWith(account.accountId, r2.releaseId);
    const tampered = await deployAndWait(cli, 'securekeys', '2.0.0', 'dev');
    expect(tampered.state).toBe('Failed');
    expect(tampered.outcome?.reason).toMatch(/t-dev \(agt_[0-9a-f]{32}\): IntegrityCheckFailed: the release file is refused/);
    expect(await currentOf(appDir)).toBe(live);
    expect(await readdir(path.join(appDir, 'releases'))).toHaveLength(3);
    expect(await readdir(path.join(dev.state, 'staging'))).toEqual([]);
    expect(await readFile(destination, 'utf8')).toBe(v1.secrets.dev);

    // 3: qa, q2 offline: q1 installs; q2's request waits on its queue.
    const qa = await cli.json<Deployment>(['deploy', 'securekeys', '1.0.0', 'qa']);
    await q1.process!.answered('deploy-release', 'succeeded', 60_000);
    const forQ2 = await peek(q2.queueUrl);
    const q1Live = await currentOf(q1.appDir(r1.appId));

    // A grant for another target (q2's request, on q1's queue): refused by q1.
    const stolen = await refusal(q1.state, await resend(q1.queueUrl, forQ2));
    expect(stolen).toMatchObject({ outcome: 'failed', error: { code: 'IntegrityCheckFailed', message: expect.stringContaining('deployment grant names another target agent') } });
    expect(await currentOf(q1.appDir(r1.appId))).toBe(q1Live);

    // A request for an environment the target's enrolment does not name: refused, and logged for audit.
    const foreign = await refusal(dev.state, await resend(dev.queueUrl, forQ2));
    expect(foreign).toMatchObject({ outcome: 'failed', error: { code: 'EnvironmentNotServed' } });
    expect(dev.process!.log).toContainEqual(expect.objectContaining({ msg: expect.stringMatching(/^audit: deployment refused/), deploymentId: qa.deploymentId }));
    expect(await currentOf(appDir)).toBe(live);

    // q2 comes up and installs; the deployment succeeds.
    const q2Process = q2.start();
    expectSucceeded(await untilEnded(cli, qa.deploymentId));
    await q2Process.answered('deploy-release', 'succeeded');
    const q2Live = await currentOf(q2.appDir(r1.appId));

    // The same grant replayed later to q2 itself: refused as a replay.
    const replayed = await refusal(q2.state, await resend(q2.queueUrl, forQ2));
    expect(replayed).toMatchObject({ outcome: 'failed', error: { code: 'GrantReplayed' } });
    expect(await currentOf(q2.appDir(r1.appId))).toBe(q2Live);
  });
});
