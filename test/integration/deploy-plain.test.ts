import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { currentOf, deployAndWait, expectSucceeded, requestsSent, startTarget } from '../support/deploy-agents.ts';
import { push } from '../support/deploy-release.ts';
import { cliSession } from './cli/run-cli.ts';

const source = async (files: Record<string, string>) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-plain-src-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
  return dir;
};

describe('plain deploy, through the same path without keys', () => {
  it('installs a plain release with its scripts; a failing install script fails the deployment naming the script and its exit status, with its output only where the environment opts in; `current` stays', { timeout: 180_000 }, async () => {
    // Prepare: no key server at all; an environment with a variable that opts in to script output, one that does not, one target of both.
    const cli = await cliSession();
    const account = await cli.signup();
    await cli.json(['envs', 'create', 'web', '--var', 'GREETING=hello from web', '--script-output', 'reported']);
    await cli.json(['envs', 'create', 'quiet', '--var', 'GREETING=hello from quiet']);
    await cli.json(['apps', 'create', 'site']);
    const manifest = (install: string) => `env:\n  GREETING: default\ninstall: |\n${install.split('\n').map((line) => `  ${line}`).join('\n')}\n`;
    const good = await push(cli, 'site', await source({ 'index.html': '<h1>v1</h1>\n', 'latchkey.yml': manifest('echo "$GREETING" > greeting.txt') }), '1.0.0');
    await push(cli, 'site', await source({ 'index.html': '<h1>v2</h1>\n', 'latchkey.yml': manifest('echo "boom: disk full"\nexit 3') }), '2.0.0');
    expect(good.encrypted).toBe(false);
    const target = await startTarget(cli, 'tw', ['web', 'quiet']);
    const appDir = target.appDir(good.appId);

    // Act and assess 1: installed, with the environment's variable over the manifest's default.
    const first = await deployAndWait(cli, 'site', '1.0.0', 'web');
    expectSucceeded(first);
    expect(await readFile(path.join(appDir, 'current', 'index.html'), 'utf8')).toBe('<h1>v1</h1>\n');
    expect(await readFile(path.join(appDir, 'current', 'greeting.txt'), 'utf8')).toBe('hello from web\n');
    expect((await requestsSent(account.accountId)).map((r) => r.agentId)).toEqual([target.agentId]);
    const live = await currentOf(appDir);
    expect((await cli.json<{ targets: unknown[] }>(['status', first.deploymentId])).targets).toEqual([
      {
        agentId: target.agentId,
        outcome: 'succeeded',
        at: expect.any(String),
        current: live,
        output: '--- unpacking\n--- install\n--- install exited with status 0\n',
        // What the target signed: this release, by the digest it verified, now current.
        receipt: { receipt: expect.objectContaining({ kind: 'release-installed', agentId: target.agentId, deploymentId: first.deploymentId, releaseId: good.releaseId, digest: good.digest, current: live }), signature: expect.any(String) },
      },
    ]);

    // 2: the install script fails: Failed, naming the target, the script, its exit status and (web opted in) its output; nothing switched.
    const failed = await deployAndWait(cli, 'site', '2.0.0', 'web');
    expect(failed.state).toBe('Failed');
    expect(failed.outcome?.reason).toMatch(new RegExp(`tw \\(${target.agentId}\\): ScriptFailed: install exited with status 3; current still points to ${live}\\. Output:\n.*boom: disk full`, 's'));
    expect(await currentOf(appDir)).toBe(live);
    expect((await cli.json<{ targets: unknown[] }>(['status', failed.deploymentId])).targets).toEqual([
      { agentId: target.agentId, outcome: 'failed', at: expect.any(String), code: 'ScriptFailed', message: expect.stringContaining('--- install\nboom: disk full\n--- install exited with status 3\n') },
    ]);
    expect(await readdir(path.join(appDir, 'releases'))).toEqual([live]);

    // 3: quiet keeps script output on the target: the report names the script and its status only; the output is in the agent's local log, 0600.
    const quietOk = await deployAndWait(cli, 'site', '1.0.0', 'quiet');
    expectSucceeded(quietOk);
    expect((await cli.json<{ targets: { output: string }[] }>(['status', quietOk.deploymentId])).targets[0]!.output).toBe('');
    const quietLive = await currentOf(appDir);
    const quiet = await deployAndWait(cli, 'site', '2.0.0', 'quiet');
    expect(quiet.outcome?.reason).toBe(`Failed on 1 of 1 targets. tw (${target.agentId}): ScriptFailed: install exited with status 3; current still points to ${quietLive}; the output is in the agent's local scripts log`);
    const local = path.join(target.state, 'scripts.log');
    expect(await readFile(local, 'utf8')).toContain(`deployment ${quiet.deploymentId}: site 2.0.0 to quiet\n--- unpacking\n--- install\nboom: disk full\n--- install exited with status 3\n`);
    expect((await stat(local)).mode & 0o777).toBe(0o600);
  });
});
