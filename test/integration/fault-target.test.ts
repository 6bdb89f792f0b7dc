import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { targetRequestId } from '#shared/domain/deploys/deploys.ts';
import { releaseUserDir } from '../support/agents.ts';
import { localClients, waitFor } from '../support/clients.ts';
import { currentOf, deployAndWait, expectSucceeded, journalOf, startTarget, untilEnded, type Deployment } from '../support/deploy-agents.ts';
import { push } from '../support/deploy-release.ts';
import { FAULT_TIMEOUTS, sourceDir, useFaultStack } from '../support/fault-stack.ts';
import { cliSession } from './cli/run-cli.ts';

// An install that says it started (with its shell's pid) and then waits for the test's go-ahead.
const BLOCKING_INSTALL = `env:
  GATE: set-by-the-environment
install: |
  echo $$ > "$GATE/installing-$LATCHKEY_DEPLOYMENT_ID"
  while [ ! -e "$GATE/go" ]; do sleep 0.1; done
  echo "v2 installed"
`;

type AuditEvent = { action: string; target?: { type: string; id: string } };

/**
 * The target's allowance for a clock running ahead of the backend's (run --clock-skew): 60 s by
 * default (CLOCK_SKEW_MS), which this test would sit through before the restart; a few seconds
 * here prove the same refusal.
 */
const CLOCK_SKEW_SECONDS = 3;

/** The deployment item as the deploy step keeps it: the request expiry and the target reports. */
const deployRunOf = async (accountId: string, deploymentId: string) => {
  const { dynamo, env } = localClients();
  const { Item } = await dynamo.send(new GetCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: { pk: `ACCOUNT#${accountId}`, sk: `DEPLOYMENT#${deploymentId}` }, ConsistentRead: true }));
  return Item as { deployExpiresAt: string; targetReports: Record<string, unknown> };
};

/**
 * Issue #11, a fault: the target machine dies (agent and install script SIGKILLed) in the middle
 * of installing a release. The deployment fails when the target wait ends, naming the target;
 * `current` still points to the complete release before it. Issue #9: once the target runs
 * again past the request's expiry, the interrupted request its queue hands back is refused
 * (RequestExpired), not installed, and nothing is recorded on the Failed deployment; a new
 * deployment of the same release installs it.
 */
describe('a target killed in the middle of an install', () => {
  useFaultStack();

  it('the deployment fails naming the target, `current` stays whole, the stale request is refused after a restart, and a redeploy of the same release succeeds', { timeout: 240_000 }, async () => {
    // Prepare: a plain app with v1 installed on one target, and a v2 whose install blocks.
    const cli = await cliSession();
    const { accountId } = await cli.signup();
    const gate = await releaseUserDir('fault-gate');
    await cli.json(['envs', 'create', 'web', '--var', `GATE=${gate}`]);
    await cli.json(['apps', 'create', 'site']);
    const v1 = await push(cli, 'site', await sourceDir({ 'index.html': '<h1>v1</h1>\n', 'latchkey.yml': 'env:\n  GATE: unused\ninstall: echo v1 installed\n' }), '1.0.0');
    await push(cli, 'site', await sourceDir({ 'index.html': '<h1>v2</h1>\n', 'latchkey.yml': BLOCKING_INSTALL }), '2.0.0');
    const target = await startTarget(cli, 'tw', ['web'], { args: ['--clock-skew', String(CLOCK_SKEW_SECONDS)] });
    const appDir = target.appDir(v1.appId);
    expectSucceeded(await deployAndWait(cli, 'site', '1.0.0', 'web'));
    const live = (await currentOf(appDir))!;
    // The request the dying target holds comes back to its queue 5 s after it took it (not 60).
    await localClients().sqs.send(new SetQueueAttributesCommand({ QueueUrl: target.queueUrl, Attributes: { VisibilityTimeout: '5' } }));

    // Act 1: deploy v2; kill the machine while the install script runs.
    const { deploymentId } = await cli.json<Deployment>(['deploy', 'site', '2.0.0', 'web']);
    const installing = path.join(gate, `installing-${deploymentId}`);
    const scriptPid = await waitFor('the v2 install to start', () => readFile(installing, 'utf8').then(Number, () => undefined), 30_000);
    await target.process!.kill('SIGKILL');
    process.kill(scriptPid, 'SIGKILL');

    // Assess 1: Failed when the target wait ends, naming the target; `current` is v1, whole.
    const failed = await untilEnded(cli, deploymentId, (FAULT_TIMEOUTS.targetSeconds + 30) * 1000);
    expect(failed.state).toBe('Failed');
    expect(failed.outcome?.reason).toBe(`Failed on 1 of 1 targets. tw (${target.agentId}): did not report within ${FAULT_TIMEOUTS.targetSeconds} s`);
    expect(await currentOf(appDir)).toBe(live);
    expect(await readFile(path.join(appDir, 'current', 'index.html'), 'utf8')).toBe('<h1>v1</h1>\n');

    // Act 2: the machine is back (its install would no longer block) once the interrupted
    // request has expired even for a target whose clock runs ahead by the allowed skew.
    const stale = await deployRunOf(accountId, deploymentId);
    const expired = Date.parse(stale.deployExpiresAt) + CLOCK_SKEW_SECONDS * 1000;
    await waitFor('the interrupted request to expire', async () => (Date.now() > expired ? true : undefined), expired - Date.now() + 10_000);
    await writeFile(path.join(gate, 'go'), '');
    const restarted = target.start();

    // Assess 2: the request handed back is refused, before anything is downloaded; `current` is
    // still v1, the release of the last successful deployment; the refusal, a late report, is
    // audited and not recorded on the Failed deployment.
    const interrupted = targetRequestId(deploymentId, target.agentId);
    await waitFor('the interrupted request refused', async () => restarted.log.find((l) => l.msg === 'request answered' && l.requestId === interrupted), 30_000);
    expect(restarted.log.find((l) => l.msg === 'request answered' && l.requestId === interrupted)).toMatchObject({ outcome: 'failed', code: 'RequestExpired' });
    expect(restarted.log.some((l) => l.msg === 'audit: expired deployment request refused' && l.requestId === interrupted)).toBe(true);
    expect(await currentOf(appDir)).toBe(live);
    expect(await readFile(path.join(appDir, 'current', 'index.html'), 'utf8')).toBe('<h1>v1</h1>\n');
    await cli.until('the late report audited', ['audit', 'list', '--limit', '500'], (events: AuditEvent[]) =>
      events.find((e) => e.action === 'deployments:late-report-refused' && e.target?.id === deploymentId),
    30_000);
    expect((await deployRunOf(accountId, deploymentId)).targetReports).toEqual(stale.targetReports);
    expect(await cli.json<Deployment>(['status', deploymentId])).toMatchObject({ state: 'Failed', outcome: { reason: failed.outcome?.reason } });

    // Act 3: the same release again.
    const redeployed = await deployAndWait(cli, 'site', '2.0.0', 'web');

    // Assess 3: installed by the new deployment, whole, and the only install since v1.
    expectSucceeded(redeployed);
    await restarted.answered('deploy-release', 'succeeded');
    const journal = await journalOf(target.state);
    expect(journal.filter((e) => e.type === 'deploy-release').map((e) => [e.requestId, e.outcome])).toEqual([
      [expect.any(String), 'succeeded'],
      [interrupted, 'failed'],
      [targetRequestId(redeployed.deploymentId, target.agentId), 'succeeded'],
    ]);
    expect(await currentOf(appDir)).toMatch(new RegExp(`-${redeployed.deploymentId}$`));
    expect(await readFile(path.join(appDir, 'current', 'index.html'), 'utf8')).toBe('<h1>v2</h1>\n');
  });
});
