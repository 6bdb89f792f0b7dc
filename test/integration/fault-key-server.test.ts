import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/clients.ts';
import { accountWithKeyServers, expectSucceeded, requestsSent, startTarget, untilEnded, type Deployment } from '../support/deploy-agents.ts';
import { machineDir, push, secretsSource } from '../support/deploy-release.ts';
import { FAULT_TIMEOUTS, queueDepth, useFaultStack } from '../support/fault-stack.ts';

/**
 * A fault: the key server asked for the deployment grant dies holding the request. Both key
 * servers are paused (SIGSTOP), so the one the workflow picks gets the grant request (into its
 * open long poll: in flight) and cannot answer it; it is then SIGKILLed and the other resumed.
 * It never acknowledged the request, so it is passed over within the acknowledgement time (not
 * the whole grant timeout), and the next key server is asked.
 */
describe('a key server killed in the middle of a grant request', () => {
  useFaultStack();

  it('the grant is asked again of the other online key server within seconds, and the deployment succeeds: exactly two key-server requests', { timeout: 120_000 }, async () => {
    // Prepare: two key servers holding v1, a secure release, one target.
    const { cli, account, keyServers } = await accountWithKeyServers();
    const machine = await machineDir('fault-ks');
    await cli.json(['envs', 'create', 'prod', '--var', 'SECRET_FILE=secret.cred.prod', '--var', `DESTINATION_FILE=${path.join(machine, 'secret.cred')}`]);
    await cli.json(['apps', 'create', 'securekeys']);
    await cli.json(['apps', 'secure', 'securekeys']);
    const { dir, secrets } = await secretsSource('1.0.0');
    await push(cli, 'securekeys', dir, '1.0.0');
    const target = await startTarget(cli, 't-prod', ['prod']);
    const keyServerIds = new Set(keyServers.map((k) => k.agentId));
    const before = new Set((await requestsSent(account.accountId)).map((r) => r.requestId));
    for (const k of keyServers) k.process.child.kill('SIGSTOP');

    // Act: deploy; the asked key server is killed holding the request (taken into its open long
    // poll, so in flight; or still on its queue if that poll had just ended).
    const { deploymentId } = await cli.json<Deployment>(['deploy', 'securekeys', '1.0.0', 'prod']);
    const asked = await waitFor(
      'the grant request at a key server',
      async () => {
        for (const k of keyServers) {
          const depth = await queueDepth(k.queueUrl);
          if (depth.inFlight + depth.visible > 0) return k;
        }
        return undefined;
      },
      30_000,
    );
    const other = keyServers.find((k) => k !== asked)!;
    await asked.process.kill('SIGKILL');
    other.process.child.kill('SIGCONT');
    const asKilled = (await requestsSent(account.accountId)).filter((r) => !before.has(r.requestId) && keyServerIds.has(r.agentId));
    expect(asKilled.map((r) => r.agentId)).toEqual([asked.agentId]);
    const deployed = await untilEnded(cli, deploymentId, 90_000);

    // Assess: the deployment succeeded through the other key server, asked after the grant wait.
    expectSucceeded(deployed);
    const sent = (await requestsSent(account.accountId)).filter((r) => !before.has(r.requestId) && keyServerIds.has(r.agentId));
    expect(sent).toHaveLength(2);
    const [first, second] = sent.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    expect([first!.agentId, second!.agentId]).toEqual([asked.agentId, other.agentId]);
    // Asked when no acknowledgement came (that wait began with its task, a moment before the
    // request was recorded), well before the grant timeout.
    const gap = Date.parse(second!.createdAt) - Date.parse(first!.createdAt);
    expect(gap).toBeGreaterThanOrEqual((FAULT_TIMEOUTS.ackSeconds - 1) * 1000);
    expect(gap).toBeLessThan((FAULT_TIMEOUTS.grantSeconds - 5) * 1000);
    await other.process.answered('issue-deployment-grant', 'succeeded');
    expect(asked.process.log.filter((l) => l.msg === 'request answered' && l.type === 'issue-deployment-grant')).toEqual([]);
    expect(await readFile(path.join(machine, 'secret.cred'), 'utf8')).toBe(secrets.prod);
    await target.process!.answered('deploy-release', 'succeeded');
  });
});
