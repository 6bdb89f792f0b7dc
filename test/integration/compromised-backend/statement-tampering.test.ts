import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { newRequestId } from '../../support/agents.ts';
import { deployReleaseRequest, directoryItem, putDirectoryItem, requeue, takeFromQueue, updateDirectoryItem, type DeployReleaseRequest } from '../../support/backend-writes.ts';
import { waitFor } from '../../support/clients.ts';
import { currentOf, deployAndWait, expectSucceeded, journalOf, startTarget, type Deployment } from '../../support/deploy-agents.ts';
import { push } from '../../support/deploy-release.ts';
import { cliSession } from '../cli/run-cli.ts';

const source = async (version: string) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-tamper-src-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'VERSION'), `${version}\n`);
  await writeFile(path.join(dir, 'latchkey.yml'), 'env:\n  FOO: unset\ninstall: echo "FOO=$FOO" > foo.txt\n');
  return dir;
};

describe('the owner’s environment statement, as a compromised backend shows it to a target', () => {
  it('edited in the table (a variable changed) is refused as NotOwnerSigned; the genuine older version put back after the target saw the newer one is refused as RolledBack; nothing is installed', { timeout: 300_000 }, async () => {
    // Prepare: web (statement version 1: FOO=one); a deployment of 1.0.0 made under it, whose
    // request the backend keeps instead of delivering (the target is not running yet). The owner
    // then sets FOO=two (version 2); 2.0.0 is deployed with it, so the target has seen version 2.
    const cli = await cliSession();
    const { accountId } = await cli.signup();
    const { environmentId } = await cli.json<{ environmentId: string }>(['envs', 'create', 'web', '--var', 'FOO=one']);
    await cli.json(['apps', 'create', 'site']);
    const v1 = await push(cli, 'site', await source('1.0.0'), '1.0.0');
    await push(cli, 'site', await source('2.0.0'), '2.0.0');
    const target = await startTarget(cli, 't1', ['web'], { run: false });
    const early = await cli.json<Deployment>(['deploy', 'site', '1.0.0', 'web']);
    const kept = (await takeFromQueue(accountId, target.agentId, (r) => r.type === 'deploy-release' && r.deploymentId === early.deploymentId)) as DeployReleaseRequest;
    expect(kept.evidence.environment.statement).toMatchObject({ version: 1, variables: { FOO: 'one' } });
    const statementKey = `STATEMENT#environment#${environmentId}`;
    const version1 = (await directoryItem(accountId, statementKey))!;
    await cli.json(['envs', 'set', 'web', '--var', 'FOO=two']);
    target.start();
    expectSucceeded(await deployAndWait(cli, 'site', '2.0.0', 'web'));
    const appDir = target.appDir(v1.appId);
    const live = await currentOf(appDir);
    expect(await readFile(path.join(appDir, 'current', 'foo.txt'), 'utf8')).toBe('FOO=two\n');

    /** Puts `request` on the target's queue under a new request id and waits for its answer. */
    const send = async (request: DeployReleaseRequest) => {
      const sent = { ...request, requestId: newRequestId(), sentAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 900_000).toISOString() };
      await requeue(accountId, target.agentId, sent);
      return waitFor(`the target to answer ${sent.requestId}`, async () => (await journalOf(target.state)).find((e) => e.requestId === sent.requestId), 60_000);
    };
    const untouched = async () => {
      expect(await currentOf(appDir)).toBe(live);
      expect(await readFile(path.join(appDir, 'current', 'foo.txt'), 'utf8')).toBe('FOO=two\n');
    };

    // Act 1: the backend edits the newest statement in the directory table (FOO=evil, signature
    // kept) and sends the target the kept deployment with the evidence as the tables now say.
    const version2 = (await directoryItem(accountId, statementKey))!;
    expect(version2.statement).toMatchObject({ version: 2, variables: { FOO: 'two' } });
    await updateDirectoryItem(accountId, statementKey, { statement: { ...version2.statement, variables: { FOO: 'evil' } } });
    const edited = await send(await deployReleaseRequest(accountId, early.deploymentId, target.agentId));

    // Assess 1
    expect(edited).toMatchObject({ outcome: 'failed', error: { code: 'NotOwnerSigned' } });
    await untouched();

    // Act 2: the backend puts back the genuine version 1 (FOO=one) and sends the kept request as it was.
    await putDirectoryItem(version1);
    const rolledBack = await send(kept);

    // Assess 2
    expect(rolledBack).toMatchObject({ outcome: 'failed', error: { code: 'RolledBack' } });
    expect(rolledBack.error!.message).toContain('is version 1, older than version 2 already seen');
    await untouched();
    expect((await journalOf(target.state)).filter((e) => e.outcome === 'succeeded')).toHaveLength(1);
  });
});
