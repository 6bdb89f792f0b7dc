import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { hpkeUnwrap, unwrapUnderMaster } from '#shared/crypto/index.ts';
import { masterKeyContext, releaseKeyUnderMasterContext } from '#shared/protocol/key-contexts.ts';
import { fromB64, parseEnrolmentToken } from '#shared/protocol/trust.ts';
import { agentPrivateKeys, startKeyServer, untilAgents } from '../support/agents.ts';
import { localClients } from '../support/clients.ts';
import { cliSession } from './cli/run-cli.ts';

const { dynamo, env } = localClients();

type WrappedItem = { accountId: string; sk: string; agentId: string; version: number; wrappedMaster: string; appId: string; releaseId: string; wrappedReleaseKey: string };

/** Every item of a table, as JSON lines. */
const scanAll = async (TableName: string) => {
  const lines: string[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(new ScanCommand({ TableName, ExclusiveStartKey, ConsistentRead: true }));
    lines.push(...(page.Items ?? []).map((item) => JSON.stringify(item)));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return lines;
};

/** The ways a key's bytes could be written down: hex (either case), base64 (padded or not), base64url. */
const encodings = (key: Uint8Array) => {
  const bytes = Buffer.from(key);
  const hex = bytes.toString('hex');
  return [hex, hex.toUpperCase(), bytes.toString('base64').replace(/=+$/, ''), bytes.toString('base64url')];
};

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
    const secrets = new Map<string, Uint8Array>();
    const agentKeys = new Map<string, Buffer>();
    for (const agent of agents) {
      const [encryption, signing] = await agentPrivateKeys(agent.state);
      secrets.set(`${agent.name} encryption key`, encryption!).set(`${agent.name} signing key`, signing!);
      agentKeys.set(agent.agentId, encryption!);
      secrets.set(`${agent.name} enrolment token key`, parseEnrolmentToken(agent.token)!.tokenSeed);
    }
    const wrapped = (await scanAll(env.WRAPPED_KEYS_TABLE!)).map((line) => JSON.parse(line) as WrappedItem).filter((item) => item.accountId === account.accountId);
    const masters = new Map<number, Buffer>();
    for (const item of wrapped.filter((w) => w.sk.startsWith('MASTER#'))) {
      const master = await hpkeUnwrap(agentKeys.get(item.agentId)!, masterKeyContext({ accountId: account.accountId, version: item.version }), fromB64(item.wrappedMaster));
      expect(masters.get(item.version)?.equals(master) ?? true, `every copy of v${item.version} holds one key`).toBe(true);
      masters.set(item.version, master);
      secrets.set(`master key v${item.version}`, master);
    }
    const releases = wrapped.filter((w) => w.sk.startsWith('RELEASE#'));
    for (const item of releases) {
      const context = releaseKeyUnderMasterContext({ accountId: account.accountId, appId: item.appId, releaseId: item.releaseId, version: item.version });
      secrets.set(`release key of ${item.releaseId}`, unwrapUnderMaster({ version: item.version, key: masters.get(item.version)! }, context, fromB64(item.wrappedReleaseKey)));
    }
    const configDir = path.dirname(cli.configPath);
    for (const file of (await readdir(configDir)).filter((name) => /-key\..*\.json$/.test(name))) {
      secrets.set(file, fromB64((JSON.parse(await readFile(path.join(configDir, file), 'utf8')) as { privateKey: string }).privateKey));
    }
    expect([...masters.keys()].sort()).toEqual([1, 2]);
    expect(releases).toHaveLength(2);
    // Agents × (2 keys + token key), 2 master keys, 2 release keys, the owner key (which also signs releases).
    expect(secrets.size).toBe(4 * 3 + 2 + 2 + 1);

    // Act: gather every log line (stack, agents, CLI) and every item of the three tables.
    const stackLog = await readFile(inject('stackLogPath'), 'utf8');
    const agentLog = agents.flatMap((agent) => agent.process.output).join('\n');
    const items = (await Promise.all([env.DIRECTORY_TABLE!, env.DEPLOYMENTS_TABLE!, env.WRAPPED_KEYS_TABLE!].map(scanAll))).flat().join('\n');

    // Assess: the logs are really there, at debug level, and about this story...
    expect(agentLog).toContain('"level":"debug"');
    expect(stackLog).toContain(b.agentId); // B created v1: its reply is logged
    expect(stackLog).toContain(d.agentId); // D created v2
    expect(items).toContain(d.agentId);
    // ...and no secret appears in any encoding.
    const haystacks = { 'the stack log': stackLog, 'an agent log': agentLog, 'the CLI output': cliOutput.join('\n'), 'a DynamoDB item': items };
    const found: string[] = [];
    for (const [name, key] of secrets) {
      for (const encoded of encodings(key)) {
        for (const [where, text] of Object.entries(haystacks)) if (text.includes(encoded)) found.push(`${name} in ${where}`);
      }
    }
    expect(found).toEqual([]);
  });
});
