import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { requeue, takeFromQueue, updateDirectoryItem, type DeployReleaseRequest } from '../../support/backend-writes.ts';
import { waitFor } from '../../support/clients.ts';
import { currentOf, expectSucceeded, startTarget, untilEnded, type Deployment } from '../../support/deploy-agents.ts';
import { push } from '../../support/deploy-release.ts';
import { sourceDir } from '../../support/fault-stack.ts';
import { cliSession } from '../cli/run-cli.ts';

const source = (version: string) =>
  sourceDir({ VERSION: `${version}\n`, 'latchkey.yml': 'env:\n  FOO: unset\n  BAR: unset\ninstall: echo "FOO=$FOO BAR=$BAR" > vars.txt\n' });

describe('environment variables the owner did not sign', () => {
  it('written into the environment item by the backend, or added to the request it sends, never reach release scripts: they see the owner’s FOO and BAR unset', { timeout: 300_000 }, async () => {
    // Prepare: web with FOO=signed in the owner's statement; a release whose install script
    // prints FOO and BAR. A deployment of 2.0.0 whose request the backend holds (the target is not running).
    const cli = await cliSession();
    const { accountId } = await cli.signup();
    const { environmentId } = await cli.json<{ environmentId: string }>(['envs', 'create', 'web', '--var', 'FOO=signed']);
    await cli.json(['apps', 'create', 'site']);
    const v1 = await push(cli, 'site', await source('1.0.0'), '1.0.0');
    await push(cli, 'site', await source('2.0.0'), '2.0.0');
    const target = await startTarget(cli, 't1', ['web'], { run: false });
    const held = await cli.json<Deployment>(['deploy', 'site', '2.0.0', 'web']);
    const kept = (await takeFromQueue(accountId, target.agentId, (r) => r.type === 'deploy-release' && r.deploymentId === held.deploymentId)) as DeployReleaseRequest;
    const appDir = target.appDir(v1.appId);
    const installed = () => readFile(path.join(appDir, 'current', 'vars.txt'), 'utf8');

    // Act 1: the backend writes variables of its own into the environment item (what the API
    // shows); 1.0.0 is deployed through the backend's own functions.
    await updateDirectoryItem(accountId, `ENV#${environmentId}`, { variables: { FOO: 'evil', BAR: 'evil' } });
    const shown = await cli.json<{ variables: Record<string, string> }>(['envs', 'show', 'web']);
    const agent = target.start();
    const first = await cli.json<Deployment>(['deploy', 'site', '1.0.0', 'web']);
    expectSucceeded(await untilEnded(cli, first.deploymentId));

    // Assess 1: the API shows the backend's values; the script saw the owner's.
    expect(shown.variables).toEqual({ FOO: 'evil', BAR: 'evil' });
    expect(await installed()).toBe('FOO=signed BAR=unset\n');
    const live = await currentOf(appDir);

    // Act 2: the backend sends the held request of 2.0.0 with variables of its own added.
    await requeue(accountId, target.agentId, { ...kept, variables: { FOO: 'evil', BAR: 'evil' } } as DeployReleaseRequest);
    await waitFor('the target to drop the request', async () => agent.log.find((l) => l.msg === 'malformed request dropped' && l.requestId === kept.requestId), 60_000);

    // Assess 2: refused unread; nothing installed.
    expect(await currentOf(appDir)).toBe(live);
    expect(await installed()).toBe('FOO=signed BAR=unset\n');

    // Act and assess 3: the held request as it was installs 2.0.0, with the owner's variables.
    await requeue(accountId, target.agentId, kept);
    expectSucceeded(await untilEnded(cli, held.deploymentId));
    expect(await readFile(path.join(appDir, 'current', 'VERSION'), 'utf8')).toBe('2.0.0\n');
    expect(await installed()).toBe('FOO=signed BAR=unset\n');
  });
});
