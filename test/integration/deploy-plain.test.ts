import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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
  it('installs a plain release with its scripts; a failing install script fails the deployment with its output, and `current` stays', { timeout: 180_000 }, async () => {
    // Prepare: no key server at all; one environment with a variable, one target.
    const cli = await cliSession();
    const account = await cli.signup();
    await cli.json(['envs', 'create', 'web', '--var', 'GREETING=hello from web']);
    await cli.json(['apps', 'create', 'site']);
    const manifest = (install: string) => `env:\n  GREETING: default\ninstall: |\n${install.split('\n').map((line) => `  ${line}`).join('\n')}\n`;
    const good = await push(cli, 'site', await source({ 'index.html': '<h1>v1</h1>\n', 'latchkey.yml': manifest('echo "$GREETING" > greeting.txt') }), '1.0.0');
    await push(cli, 'site', await source({ 'index.html': '<h1>v2</h1>\n', 'latchkey.yml': manifest('echo "boom: disk full"\nexit 3') }), '2.0.0');
    expect(good.encrypted).toBe(false);
    const target = await startTarget(cli, 'tw', ['web']);
    const appDir = target.appDir(good.appId);

    // Act and assess 1: installed, with the environment's variable over the manifest's default.
    const first = await deployAndWait(cli, 'site', '1.0.0', 'web');
    expectSucceeded(first);
    expect(await readFile(path.join(appDir, 'current', 'index.html'), 'utf8')).toBe('<h1>v1</h1>\n');
    expect(await readFile(path.join(appDir, 'current', 'greeting.txt'), 'utf8')).toBe('hello from web\n');
    expect((await requestsSent(account.accountId)).map((r) => r.agentId)).toEqual([target.agentId]);
    const live = await currentOf(appDir);
    expect((await cli.json<{ targets: unknown[] }>(['status', first.deploymentId])).targets).toEqual([
      { agentId: target.agentId, outcome: 'succeeded', at: expect.any(String), current: live, output: '--- install\n' },
    ]);

    // 2: the install script fails: Failed, naming the target, the script and its output; nothing switched.
    const failed = await deployAndWait(cli, 'site', '2.0.0', 'web');
    expect(failed.state).toBe('Failed');
    expect(failed.outcome?.reason).toMatch(/tw \(agt_[0-9a-f]{32}\): ScriptFailed: install exited with 3; current still points to .*boom: disk full/s);
    expect(await currentOf(appDir)).toBe(live);
    expect((await cli.json<{ targets: unknown[] }>(['status', failed.deploymentId])).targets).toEqual([
      { agentId: target.agentId, outcome: 'failed', at: expect.any(String), code: 'ScriptFailed', message: expect.stringContaining('--- install\nboom: disk full\n') },
    ]);
    expect(await readdir(path.join(appDir, 'releases'))).toEqual([live]);
  });
});
