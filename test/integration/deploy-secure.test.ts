import { stat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { accountWithKeyServers, currentOf, deployAndWait, expectSucceeded, filesUnder, requestsSent, startTarget } from '../support/deploy-agents.ts';
import { ENVIRONMENTS, machineDir, push, secretsSource } from '../support/deploy-release.ts';

/**
 * The seeds' secure-packages example with real `latchkey-agent` processes (two key servers, one
 * target per environment) against the local stack: one secure application holding three secrets,
 * deployed everywhere; each target ends up with its own secret only.
 */
describe('secure deploy, the seeds’ example', () => {
  it('each target has exactly its own secret at DESTINATION_FILE (0600), no other secret anywhere on it, and each deployment made ONE key-server request', { timeout: 300_000 }, async () => {
    // Prepare: key servers, three environments with SECRET_FILE and DESTINATION_FILE, a secure app, its release, one target per environment.
    const { cli, account, keyServers } = await accountWithKeyServers();
    const machines: Record<string, string> = {};
    for (const env of ENVIRONMENTS) {
      machines[env] = await machineDir(`target-${env}`);
      await cli.json(['envs', 'create', env, '--var', `SECRET_FILE=secret.cred.${env}`, '--var', `DESTINATION_FILE=${path.join(machines[env]!, 'secret.cred')}`]);
    }
    await cli.json(['apps', 'create', 'securekeys']);
    expect((await cli.json<{ secure: boolean }>(['apps', 'secure', 'securekeys'])).secure).toBe(true);
    const { dir, secrets } = await secretsSource('1.0.0');
    const release = await push(cli, 'securekeys', dir, '1.0.0');
    expect(release).toMatchObject({ encrypted: true, state: 'ready', masterVersion: 1 });
    const targets = Object.fromEntries(await Promise.all(ENVIRONMENTS.map(async (env) => [env, await startTarget(cli, `t-${env}`, [env])] as const)));
    const keyServerIds = new Set(keyServers.map((k) => k.agentId));
    const grantRequestsBefore = (await requestsSent(account.accountId)).filter((r) => keyServerIds.has(r.agentId)).length;

    // Act: the same release to every environment.
    const deployments = [];
    for (const env of ENVIRONMENTS) deployments.push(await deployAndWait(cli, 'securekeys', '1.0.0', env));

    // Assess
    deployments.forEach(expectSucceeded);
    // `latchkey status` verified each deployment's receipts: the key server's grant and the target's install, naming the release's digest.
    for (const [i, d] of deployments.entries()) {
      const digest = (d as unknown as { releaseDigest: string }).releaseDigest;
      expect((d as unknown as { receipts: unknown }).receipts).toEqual({
        // These environments need no approval: the receipts say so.
        grant: { agentId: expect.toSatisfy((id: string) => keyServers.some((k) => k.agentId === id)), verified: true, digest, approvals: 'none' },
        targets: [{ agentId: targets[ENVIRONMENTS[i]!]!.agentId, verified: true, digest, approvals: 'none' }],
        problems: [],
      });
    }
    const sent = await requestsSent(account.accountId);
    expect(sent.filter((r) => keyServerIds.has(r.agentId)).length - grantRequestsBefore).toBe(ENVIRONMENTS.length);
    const allSecrets = Object.values(secrets);
    for (const env of ENVIRONMENTS) {
      const target = targets[env]!;
      const destination = path.join(machines[env]!, 'secret.cred');
      expect(await readFile(destination, 'utf8')).toBe(secrets[env]);
      expect((await stat(destination)).mode & 0o777).toBe(0o600);
      // Nowhere on this target (state, releases, staging, install location) is any other secret,
      // in a file of any name, and its own is only at DESTINATION_FILE.
      const files = [...(await filesUnder(target.state)), ...(await filesUnder(machines[env]!))];
      const holding = files.filter((f) => allSecrets.some((secret) => f.bytes.includes(secret.trim())));
      expect(holding.map((f) => f.path)).toEqual([destination]);
      expect(files.filter((f) => /secret\.cred\./.test(path.basename(f.path)))).toEqual([]);
      // The release directory holds what latchkey.yml includes, and `current` points to it.
      const appDir = target.appDir(release.appId);
      const current = await currentOf(appDir);
      expect(current).toMatch(new RegExp(`-${deployments[ENVIRONMENTS.indexOf(env)]!.deploymentId}$`));
      expect(await readFile(path.join(appDir, 'current', 'VERSION'), 'utf8')).toBe('1.0.0\n');
      expect(files.some((f) => path.basename(f.path) === 'README.txt')).toBe(false);
      await target.process!.answered('deploy-release', 'succeeded');
    }
  });
});
