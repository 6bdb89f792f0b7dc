import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { enrolAgentProcess, startKeyServer, untilAgents } from '../support/agents.ts';
import { waitFor } from '../support/clients.ts';
import { cliSession } from './cli/run-cli.ts';

type Release = { releaseId: string; version: string; state: string; encrypted: boolean; masterVersion?: number };
type Deployment = { deploymentId: string; state: string; outcome?: { reason?: string } };

/**
 * The seeds' key-server story, with real `latchkey-agent` processes against the local stack
 * (online window 5 s, heartbeats every second): the master key lives only on key servers, moves
 * from one to the next while any holder is online, and is lost — by design — once none is.
 */
describe('the key-server story', () => {
  it('A and B up; B dies, pushes work; C learns from A; A dies, pushes work; D learns from C; C and D die; E cannot learn v1: old releases cannot be deployed, new pushes use v2 on E', { timeout: 300_000 }, async () => {
    // Prepare: an account, an environment without approvals, an application, a directory to push.
    const cli = await cliSession();
    await cli.signup();
    await cli.json(['envs', 'create', 'production']);
    await cli.json(['apps', 'create', 'web']);
    const source = await mkdtemp(path.join(tmpdir(), 'latchkey-story-src-'));
    onTestFinished(() => rm(source, { recursive: true, force: true }));
    await writeFile(path.join(source, 'index.html'), '<h1>hello</h1>\n');
    const push = async (version: string) => {
      const result = await cli.run(['push', 'web', source, '--version', version, '--json', '--seal-timeout', '15']);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as Release;
    };
    const holds = (agent: { masterVersions: number[]; online: boolean } | undefined, version: number) => !!agent?.online && agent.masterVersions.includes(version);

    // A and B up: the second key server creates master key v1 for both; the app can be secure.
    const a = await startKeyServer(cli, 'a');
    const b = await startKeyServer(cli, 'b');
    await untilAgents(cli, 'a and b to hold v1', (l) => holds(l.a, 1) && holds(l.b, 1));
    expect(await b.process.answered('create-master-key', 'succeeded')).toBeDefined();
    expect((await cli.json<{ secure: boolean }>(['apps', 'secure', 'web'])).secure).toBe(true);

    // B dies: pushes still work, sealed by A.
    await b.process.kill();
    await untilAgents(cli, 'b offline', (l) => !l.b!.online && l.a!.online);
    const first = await push('1.0.0');
    expect(first).toMatchObject({ encrypted: true, state: 'ready', masterVersion: 1 });
    await a.process.answered('rewrap-release-key', 'succeeded');

    // C enrols and learns the master key from A, the only online holder.
    const c = await startKeyServer(cli, 'c');
    await untilAgents(cli, 'c to learn v1', (l) => holds(l.c, 1));
    await a.process.answered('share-master-key', 'succeeded');

    // A dies: still works, sealed by C.
    await a.process.kill();
    await untilAgents(cli, 'a offline', (l) => !l.a!.online && l.c!.online);
    expect(await push('1.0.1')).toMatchObject({ encrypted: true, state: 'ready', masterVersion: 1 });
    await c.process.answered('rewrap-release-key', 'succeeded');

    // D learns from C.
    const d = await startKeyServer(cli, 'd');
    await untilAgents(cli, 'd to learn v1', (l) => holds(l.d, 1));
    await c.process.answered('share-master-key', 'succeeded');

    // C and D die: no online key server holds v1 any more.
    await Promise.all([c.process.kill(), d.process.kill()]);
    await untilAgents(cli, 'c and d offline', (l) => ['a', 'b', 'c', 'd'].every((name) => !l[name]!.online));

    // E enrols and cannot learn v1: nobody online holds it, so E creates v2 for itself.
    const e = await startKeyServer(cli, 'e');
    const listed = await untilAgents(cli, 'e to hold v2', (l) => holds(l.e, 2));
    expect(listed.e!.masterVersions).toEqual([2]);
    await e.process.answered('create-master-key', 'succeeded');
    expect(e.process.log.filter((line) => line.msg === 'request answered' && line.type === 'share-master-key')).toEqual([]);

    // A target enrolled for production, so that nothing but the key stands in the deploy's way.
    const enrolment = await cli.json<{ token: string; ownerKey: string }>(['enrolments', 'create', '--role', 'target', '--env', 'production']);
    await enrolAgentProcess({ endpoint: cli.endpoint, ownerKey: enrolment.ownerKey, token: enrolment.token, name: 'web-1' });

    // Act 1: deploy the first release, sealed under v1.
    const started = await cli.json<Deployment>(['deploy', 'web', '1.0.0', 'production']);
    const failed = await waitFor(
      'the deployment of 1.0.0 to fail',
      async () => {
        const d = await cli.json<Deployment>(['status', started.deploymentId]);
        return ['Failed', 'Succeeded'].includes(d.state) ? d : undefined;
      },
      60_000,
    );

    // Assess 1: it fails, saying why, clearly.
    expect(failed.state).toBe('Failed');
    expect(failed.outcome?.reason).toMatch(/no online key server holds master key version 1/i);

    // Act 2 and assess 2: a new release of the already-secure app is sealed under v2 by E.
    expect(await push('2.0.0')).toMatchObject({ encrypted: true, state: 'ready', masterVersion: 2 });
    await e.process.answered('rewrap-release-key', 'succeeded');
  });
});
