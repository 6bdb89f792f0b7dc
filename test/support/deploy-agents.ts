import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import { enrolThroughCli, runAgentProcess, startKeyServer, untilAgents } from './agents.ts';
import { localClients } from './clients.ts';
import { cliSession } from '../integration/cli/run-cli.ts';

export type Cli = Awaited<ReturnType<typeof cliSession>>;
export type Deployment = { deploymentId: string; state: string; releaseVersion: string; outcome?: { reason?: string } };

/** An account with two running key servers holding master key v1, through the CLI and the agent binary. */
export const accountWithKeyServers = async () => {
  const cli = await cliSession();
  const account = await cli.signup();
  return { cli, account, keyServers: await startKeyServers(cli) };
};

/**
 * Key servers k1 and k2, started and holding master key v1; `serves` names the environments a
 * key server's enrolment also names (it then installs releases there too).
 */
export const startKeyServers = async (cli: Cli, serves: { k1?: string[]; k2?: string[] } = {}, options: { logLevel?: 'debug' | 'info' } = {}) => {
  const keyServers = [];
  for (const name of ['k1', 'k2'] as const) {
    const environments = serves[name] ?? [];
    if (environments.length === 0) {
      keyServers.push(await startKeyServer(cli, name, options));
      continue;
    }
    const agent = await enrolThroughCli(cli, name, 'keyserver', environments);
    keyServers.push({ ...agent, process: runAgentProcess(agent.state, options) });
  }
  await untilAgents(cli, 'both key servers to hold v1', (l) => ['k1', 'k2'].every((name) => !!l[name]?.online && l[name]!.masterVersions.includes(1)));
  return keyServers;
};

/**
 * A target the owner enrols for `environments` (names) and confirms, started as `latchkey-agent
 * run` (with `args`, e.g. --script-timeout); `appDir(appId)` is where it installs an application,
 * in its releases directory.
 */
export const startTarget = async (cli: Cli, name: string, environments: string[], options: { run?: boolean; args?: string[]; logLevel?: 'debug' | 'info' } = {}) => {
  const agent = await enrolThroughCli(cli, name, 'target', environments);
  const start = () => runAgentProcess(agent.state, { ...(options.args ? { args: options.args } : {}), ...(options.logLevel ? { logLevel: options.logLevel } : {}) });
  return { ...agent, process: options.run === false ? undefined : start(), start };
};

/**
 * Deploys through the CLI (the binary for the session's first deploy, in-process after:
 * cli.routine) and waits for the deployment to end; returns it as `status` shows it.
 */
export const deployAndWait = async (cli: Cli, app: string, version: string, env: string, timeoutMs = 90_000) => {
  const started = await cli.routine<Deployment>(['deploy', app, version, env]);
  return untilEnded(cli, started.deploymentId, timeoutMs);
};

/** Polls `latchkey status` until the deployment has ended, and returns it as the binary printed it (cli.until). */
export const untilEnded = (cli: Cli, deploymentId: string, timeoutMs = 90_000) =>
  cli.until(
    `deployment ${deploymentId} to end`,
    ['status', deploymentId],
    (d: Deployment) => (['Succeeded', 'Failed', 'Declined', 'Canceled', 'Expired'].includes(d.state) ? d : undefined),
    timeoutMs,
  );

/** The release directory `current` points to (its name), read from the target's disk. */
export const currentOf = (appDir: string) =>
  readlink(path.join(appDir, 'current')).then(
    (target) => path.basename(target),
    () => undefined,
  );

/** Every request the backend sent to agents of this account, from the directory table (REQUEST# items). */
export const requestsSent = async (accountId: string) => {
  const { dynamo, env } = localClients();
  const { Items = [] } = await dynamo.send(
    new QueryCommand({
      TableName: env.DIRECTORY_TABLE!,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': `ACCOUNT#${accountId}`, ':prefix': 'REQUEST#' },
      ConsistentRead: true,
    }),
  );
  return Items as { requestId: string; agentId: string; type: string; createdAt: string }[];
};

/** The agent's journal: each request it answered, with the outcome it reported. */
export const journalOf = async (state: string) =>
  (await readFile(path.join(state, 'journal.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { requestId: string; type: string; outcome: string; error?: { code: string; message: string } });

export const expectSucceeded = (d: Deployment) => expect(d.state, d.outcome?.reason).toBe('Succeeded');

/** Every regular file under `dir`, with its bytes (symlinks are not followed). */
export const filesUnder = async (dir: string): Promise<{ path: string; bytes: Buffer }[]> => {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out.push({ path: file, bytes: await readFile(file) });
  }
  return out;
};
