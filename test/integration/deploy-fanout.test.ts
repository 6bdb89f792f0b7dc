import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { accountWithKeyServers, deployAndWait, expectSucceeded, requestsSent, startTarget } from '../support/deploy-agents.ts';
import { machineDir, push, secretsSource } from '../support/deploy-release.ts';

describe('secure deploy to many targets', () => {
  it('a deployment to 5 targets makes exactly ONE key-server request, and every target installs', { timeout: 300_000 }, async () => {
    // Prepare: two key servers, an environment with five targets, a secure release.
    const { cli, account, keyServers } = await accountWithKeyServers();
    const machine = await machineDir('fleet');
    await cli.json(['envs', 'create', 'fleet', '--var', 'SECRET_FILE=secret.cred.prod', '--var', `DESTINATION_FILE=${path.join(machine, 'secret.cred')}`]);
    await cli.json(['apps', 'create', 'securekeys']);
    await cli.json(['apps', 'secure', 'securekeys']);
    const { dir } = await secretsSource('1.0.0');
    const release = await push(cli, 'securekeys', dir, '1.0.0');
    const targets = await Promise.all([1, 2, 3, 4, 5].map((n) => startTarget(cli, `f${n}`, ['fleet'])));
    const keyServerIds = new Set(keyServers.map((k) => k.agentId));
    const before = new Set((await requestsSent(account.accountId)).map((r) => r.requestId));

    // Act
    const deployed = await deployAndWait(cli, 'securekeys', '1.0.0', 'fleet');

    // Assess: one request to one key server, one to each target; the key servers answered one grant.
    expectSucceeded(deployed);
    expect(deployed.outcome?.reason).toBe('Installed on 5 targets');
    const sent = (await requestsSent(account.accountId)).filter((r) => !before.has(r.requestId));
    expect(sent.filter((r) => keyServerIds.has(r.agentId))).toHaveLength(1);
    expect(sent.filter((r) => !keyServerIds.has(r.agentId)).map((r) => r.agentId).sort()).toEqual(targets.map((t) => t.agentId).sort());
    const grantsAnswered = keyServers.flatMap((k) => k.process.log.filter((l) => l.msg === 'request answered' && l.type === 'issue-deployment-grant'));
    expect(grantsAnswered).toHaveLength(1);
    for (const target of targets) {
      expect(await readFile(path.join(target.appDir(release.appId), 'current', 'VERSION'), 'utf8')).toBe('1.0.0\n');
    }
  });
});
