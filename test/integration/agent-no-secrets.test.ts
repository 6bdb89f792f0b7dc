import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { startKeyServer, untilAgents } from '../support/agents.ts';
import { accountSecrets, allItems, secretsFound } from '../support/secrets.ts';
import { cliSession } from './cli/run-cli.ts';

describe('no key bytes in logs or tables', () => {
  it('after key servers create, share and use master keys v1 and v2 at debug level, no master, release, agent, owner or token key appears in any log line or DynamoDB item', { timeout: 240_000 }, async () => {
    // Prepare: the story, shortened: A and B create v1, a secure push, C learns v1 from A or B,
    // they all die, D creates v2, another push. Agents log at debug, the stack too (global-setup).
    const cli = await cliSession();
    const account = await cli.signup();
    const cliOutput: string[] = [];
    const run = async (args: string[]) => {
      const result = await cli.run(args);
      cliOutput.push(result.stdout, result.stderr);
      expect(result.code, result.stderr).toBe(0);
      return result;
    };
    const source = await mkdtemp(path.join(tmpdir(), 'latchkey-secrets-src-'));
    onTestFinished(() => rm(source, { recursive: true, force: true }));
    await writeFile(path.join(source, 'config.txt'), 'database password: hunter2\n');
    const debug = { logLevel: 'debug' as const };
    const a = await startKeyServer(cli, 'a', debug);
    const b = await startKeyServer(cli, 'b', debug);
    await untilAgents(cli, 'a and b to hold v1', (l) => ['a', 'b'].every((n) => l[n]?.online && l[n].masterVersions.includes(1)));
    await run(['apps', 'create', 'vault']);
    await run(['apps', 'secure', 'vault']);
    await run(['push', 'vault', source, '--version', '1.0.0']);
    const c = await startKeyServer(cli, 'c', debug);
    await untilAgents(cli, 'c to learn v1', (l) => !!l.c?.online && l.c.masterVersions.includes(1));
    await Promise.all([a, b, c].map((agent) => agent.process.kill()));
    await untilAgents(cli, 'a, b and c offline', (l) => ['a', 'b', 'c'].every((n) => !l[n]!.online));
    const d = await startKeyServer(cli, 'd', debug);
    await untilAgents(cli, 'd to create v2', (l) => !!l.d?.online && l.d.masterVersions.includes(2));
    await run(['push', 'vault', source, '--version', '2.0.0']);
    const agents = [a, b, c, d];

    // The secrets used, recovered from the agents' state directories and the wrapped keys.
    const { secrets, masters, releases, disagreeing } = await accountSecrets(account.accountId, agents, cli.configPath);
    expect(disagreeing, 'every copy of a master key version holds one key').toBe(0);
    expect([...masters.keys()].sort()).toEqual([1, 2]);
    expect(releases).toBe(2);
    // Agents × (2 keys + token key), 2 master keys, 2 release keys, the owner key (which also signs releases).
    expect(secrets.size).toBe(4 * 3 + 2 + 2 + 1);

    // Act: gather every log line (stack, agents, CLI) and every item of the three tables.
    const stackLog = await readFile(inject('stackLogPath'), 'utf8');
    const agentLog = agents.flatMap((agent) => agent.process.output).join('\n');
    const items = await allItems();

    // Assess: the logs are really there, at debug level, and about this story...
    expect(agentLog).toContain('"level":"debug"');
    // A or B created v1 (whichever the backend asked first) and shared it: its replies are logged.
    expect([a, b].filter((agent) => stackLog.includes(agent.agentId))).not.toEqual([]);
    expect(stackLog).toContain(d.agentId); // D created v2
    expect(items).toContain(d.agentId);
    // ...and no secret appears in any encoding.
    const haystacks = { 'the stack log': stackLog, 'an agent log': agentLog, 'the CLI output': cliOutput.join('\n'), 'a DynamoDB item': items };
    expect(secretsFound(secrets, haystacks)).toEqual([]);
  });
});
