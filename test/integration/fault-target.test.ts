import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { targetRequestId } from '#shared/domain/deploys/deploys.ts';
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

/**
 * Issue #11, a fault: the target machine dies (agent and install script SIGKILLed) in the middle
 * of installing a release. The deployment fails when the target wait ends, naming the target;
 * `current` still points to the complete release before it; once the target runs again, a new
 * deployment of the same release installs it.
 */
describe('a target killed in the middle of an install', () => {
  useFaultStack();

  it('the deployment fails naming the target, `current` stays whole, and after a restart a redeploy of the same release succeeds', { timeout: 120_000 }, async () => {
    // Prepare: a plain app with v1 installed on one target, and a v2 whose install blocks.
    const cli = await cliSession();
    await cli.signup();
    const gate = await mkdtemp(path.join(tmpdir(), 'latchkey-fault-gate-'));
    onTestFinished(() => rm(gate, { recursive: true, force: true }));
    await cli.json(['envs', 'create', 'web', '--var', `GATE=${gate}`]);
    await cli.json(['apps', 'create', 'site']);
    const v1 = await push(cli, 'site', await sourceDir({ 'index.html': '<h1>v1</h1>\n', 'latchkey.yml': 'install: echo v1 installed\n' }), '1.0.0');
    await push(cli, 'site', await sourceDir({ 'index.html': '<h1>v2</h1>\n', 'latchkey.yml': BLOCKING_INSTALL }), '2.0.0');
    const target = await startTarget(cli, 'tw', ['web']);
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

    // Act 2: the machine is back (its install would no longer block); the same release again.
    await writeFile(path.join(gate, 'go'), '');
    const restarted = target.start();
    const redeployed = await deployAndWait(cli, 'site', '2.0.0', 'web');

    // Assess 2: installed by the new deployment. The interrupted request, redelivered to the
    // restarted target, is answered too (its deployment had already ended); either way
    // `current` is the complete release the target last reported, never a half install.
    expectSucceeded(redeployed);
    const interrupted = targetRequestId(deploymentId, target.agentId);
    const journal = await waitFor('the interrupted request answered', async () => {
      const entries = await journalOf(target.state);
      return entries.some((e) => e.requestId === interrupted) ? entries : undefined;
    }, 20_000);
    const lastInstalled = journal.filter((e) => e.type === 'deploy-release' && e.outcome === 'succeeded').at(-1) as { result?: { current?: string } } | undefined;
    const now = await currentOf(appDir);
    expect(now).toBe(lastInstalled?.result?.current);
    expect(now).toMatch(new RegExp(`-(${deploymentId}|${redeployed.deploymentId})$`));
    expect(await readFile(path.join(appDir, 'current', 'index.html'), 'utf8')).toBe('<h1>v2</h1>\n');
    await restarted.answered('deploy-release', 'succeeded');
  });
});
