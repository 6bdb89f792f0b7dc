import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliSession } from './cli/run-cli.ts';
import { currentOf, deployAndWait, expectSucceeded, startKeyServers } from '../support/deploy-agents.ts';
import { machineDir, push, secretsSource } from '../support/deploy-release.ts';

/**
 * The seeds' key servers also consume deployments: one agent enrolled as a key server for `prod`
 * is prod's only target. Whichever key server issues the grant, that agent installs the release.
 */
describe('one agent, both roles', () => {
  it('a key server whose enrolment names prod installs a secure release deployed to prod', { timeout: 300_000 }, async () => {
    // Prepare: prod with its variables, key servers k1 and k2 (k2 also enrolled for prod), a secure release.
    const cli = await cliSession();
    await cli.signup();
    const machine = await machineDir('keyserver-target');
    const destination = path.join(machine, 'secret.cred');
    await cli.json(['envs', 'create', 'prod', '--var', 'SECRET_FILE=secret.cred.prod', '--var', `DESTINATION_FILE=${destination}`]);
    const [k1, k2] = await startKeyServers(cli, { k2: ['prod'] });
    await cli.json(['apps', 'create', 'securekeys']);
    await cli.json(['apps', 'secure', 'securekeys']);
    const { dir, secrets } = await secretsSource('1.0.0');
    const release = await push(cli, 'securekeys', dir, '1.0.0');

    // Act
    const deployed = await deployAndWait(cli, 'securekeys', '1.0.0', 'prod');

    // Assess: one grant, by either key server; k2 installed (k1 serves no environment).
    expectSucceeded(deployed);
    expect(deployed.outcome?.reason).toBe('Installed on 1 target');
    const grants = [k1!, k2!].flatMap((k) => k.process.log.filter((l) => l.msg === 'request answered' && l.type === 'issue-deployment-grant' && l.outcome === 'succeeded'));
    expect(grants).toHaveLength(1);
    await k2!.process.answered('deploy-release', 'succeeded');
    expect(k1!.process.log.some((l) => l.type === 'deploy-release')).toBe(false);
    expect(await readFile(destination, 'utf8')).toBe(secrets.prod);
    expect((await stat(destination)).mode & 0o777).toBe(0o600);
    const appDir = k2!.appDir(release.appId);
    expect(await currentOf(appDir)).toMatch(new RegExp(`-${deployed.deploymentId}$`));
    expect(await readFile(path.join(appDir, 'current', 'VERSION'), 'utf8')).toBe('1.0.0\n');
  });
});
