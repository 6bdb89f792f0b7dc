import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ownerKeyPath, readKeyFile } from '#cli/keys.ts';
import { targetRequestId } from '#shared/domain/deploys/deploys.ts';
import { signIntent } from '#shared/protocol/deployment-evidence.ts';
import { newRequestId } from '../../support/agents.ts';
import { deploymentsItem, presignedGet, requeue, takeFromQueue, type DeployReleaseRequest } from '../../support/backend-writes.ts';
import { waitFor } from '../../support/clients.ts';
import { currentOf, deployAndWait, expectSucceeded, journalOf, startTarget, untilEnded, type Deployment } from '../../support/deploy-agents.ts';
import { push } from '../../support/deploy-release.ts';
import { sourceDir as source } from '../../support/fault-stack.ts';
import { cliSession } from '../cli/run-cli.ts';

describe('a compromised backend replays a deployment’s evidence to roll a target back', () => {
  it('the genuine request of 1.0.0 sent again after 2.0.0 is live — as it was, under a new request id, under a new deployment id, or with an old intent that expired — installs nothing: the target stays on 2.0.0', { timeout: 300_000 }, async () => {
    // Prepare: a plain application; the target is enrolled but not running, so the backend can
    // keep a copy of the request that deploys 1.0.0 before handing it over.
    const cli = await cliSession();
    const { accountId } = await cli.signup();
    await cli.json(['envs', 'create', 'web']);
    await cli.json(['apps', 'create', 'site']);
    const v1 = await push(cli, 'site', await source({ 'index.html': '<h1>v1</h1>\n', 'latchkey.yml': 'install: echo installed\n' }), '1.0.0');
    await push(cli, 'site', await source({ 'index.html': '<h1>v2</h1>\n', 'latchkey.yml': 'install: echo installed\n' }), '2.0.0');
    const target = await startTarget(cli, 't1', ['web'], { run: false });
    const first = await cli.json<Deployment>(['deploy', 'site', '1.0.0', 'web']);
    const kept = (await takeFromQueue(accountId, target.agentId, (r) => r.type === 'deploy-release' && r.deploymentId === first.deploymentId)) as DeployReleaseRequest;
    await requeue(accountId, target.agentId, kept);
    const agent = target.start();
    expectSucceeded(await untilEnded(cli, first.deploymentId));
    expectSucceeded(await deployAndWait(cli, 'site', '2.0.0', 'web'));
    const appDir = target.appDir(v1.appId);
    const live = await currentOf(appDir);
    expect(await readFile(path.join(appDir, 'current', 'index.html'), 'utf8')).toBe('<h1>v2</h1>\n');

    const objectKey = (await deploymentsItem(accountId, `RELEASE#${v1.releaseId}`))!.objectKey as string;
    const stillOnV2 = async () => {
      expect(await currentOf(appDir)).toBe(live);
      expect(await readFile(path.join(appDir, 'current', 'index.html'), 'utf8')).toBe('<h1>v2</h1>\n');
    };
    /** Sends a copy of the kept request (fresh delivery details: URL, times) and waits for the target's answer. */
    const replay = async (changes: Partial<DeployReleaseRequest>) => {
      const request = { ...kept, url: await presignedGet(objectKey), sentAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 900_000).toISOString(), ...changes };
      await requeue(accountId, target.agentId, request);
      return waitFor(`the target to answer ${request.requestId}`, async () => (await journalOf(target.state)).find((e) => e.requestId === request.requestId), 60_000);
    };

    // Act and assess 1: the request as it was: answered from the target's journal, not run again.
    await requeue(accountId, target.agentId, kept);
    await waitFor('the target to answer the copy from its journal', async () => agent.log.find((l) => l.msg === 'request already answered; sending the same answer' && l.requestId === kept.requestId), 60_000);
    await stillOnV2();

    // 2: the same deployment under a new request id: the target installed that deployment before.
    const again = await replay({ requestId: newRequestId() });
    expect(again).toMatchObject({ outcome: 'failed', error: { code: 'GrantReplayed' } });
    await stillOnV2();

    // 3: under a new deployment id: the deployer's intent names the deployment of 1.0.0.
    const renamed = `dep_${randomBytes(16).toString('hex')}`;
    const other = await replay({ deploymentId: renamed, requestId: targetRequestId(renamed, target.agentId) });
    expect(other).toMatchObject({ outcome: 'failed', error: { code: 'IntentMismatch' } });
    expect(other.error!.message).toContain(`names deploymentId ${first.deploymentId}, not ${renamed}`);
    await stillOnV2();

    // 4: an intent the deployer signed long ago for 1.0.0 (a deployment that never ran), kept by the
    // backend until now: it expired.
    const owner = (await readKeyFile(ownerKeyPath(cli.configPath, accountId)))!;
    const stale = `dep_${randomBytes(16).toString('hex')}`;
    const day = 24 * 3600_000;
    const intent = signIntent(owner.privateKey!, { ...kept.evidence.intent.intent, deploymentId: stale, createdAt: new Date(Date.now() - 3 * day).toISOString(), expiresAt: new Date(Date.now() - day).toISOString() });
    const expired = await replay({ deploymentId: stale, requestId: targetRequestId(stale, target.agentId), evidence: { ...kept.evidence, intent } });
    expect(expired).toMatchObject({ outcome: 'failed', error: { code: 'IntentExpired' } });
    await stillOnV2();
    expect((await journalOf(target.state)).filter((e) => e.outcome === 'succeeded').map((e) => e.requestId)).toEqual([kept.requestId, expect.any(String)]);
  });
});
