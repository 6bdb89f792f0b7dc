import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { hpkeUnwrap, unwrapUnderMaster } from '#shared/crypto/index.ts';
import { masterKeyContext, releaseKeyUnderMasterContext } from '#shared/protocol/key-contexts.ts';
import { fromB64, parseEnrolmentToken } from '#shared/protocol/trust.ts';
import { agentPrivateKeys } from './agents.ts';
import { localClients } from './clients.ts';

/** Every item of a table, as JSON lines. */
export const scanAll = async (TableName: string) => {
  const { dynamo } = localClients();
  const lines: string[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(new ScanCommand({ TableName, ExclusiveStartKey, ConsistentRead: true }));
    lines.push(...(page.Items ?? []).map((item) => JSON.stringify(item)));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return lines;
};

/** Every item of the three tables, as JSON lines. */
export const allItems = async () => {
  const { env } = localClients();
  return (await Promise.all([env.DIRECTORY_TABLE!, env.DEPLOYMENTS_TABLE!, env.WRAPPED_KEYS_TABLE!].map(scanAll))).flat().join('\n');
};

/** The ways a key's bytes could be written down: hex (either case), base64 (padded or not), base64url. */
export const encodings = (key: Uint8Array) => {
  const bytes = Buffer.from(key);
  const hex = bytes.toString('hex');
  return [hex, hex.toUpperCase(), bytes.toString('base64').replace(/=+$/, ''), bytes.toString('base64url')];
};

/** "<secret> in <where>" for each secret found, in any encoding, in any of the texts. */
export const secretsFound = (secrets: ReadonlyMap<string, Uint8Array>, haystacks: Record<string, string>) => {
  const found: string[] = [];
  for (const [name, key] of secrets) {
    for (const encoded of encodings(key)) {
      for (const [where, text] of Object.entries(haystacks)) if (text.includes(encoded)) found.push(`${name} in ${where}`);
    }
  }
  return found;
};

type WrappedItem = { accountId: string; sk: string; agentId: string; version: number; wrappedMaster: string; appId: string; releaseId: string; wrappedReleaseKey: string };

/**
 * Every key of an account a test can recover, by name: each agent's two private keys and its
 * enrolment token key (from its state directory and token), each master key version (unwrapped
 * from a holder's copy), each release key (unwrapped under its master key), and the key files of
 * the CLI's config directory (owner and signing keys). `masterCopies` says how many copies of
 * each master version disagreed with the first: 0 when every copy holds one key.
 */
export const accountSecrets = async (accountId: string, agents: readonly { name: string; agentId: string; state: string; token?: string }[], cliConfigPath: string) => {
  const { env } = localClients();
  const secrets = new Map<string, Uint8Array>();
  const agentKeys = new Map<string, Buffer>();
  for (const agent of agents) {
    const [encryption, signing] = await agentPrivateKeys(agent.state);
    secrets.set(`${agent.name} encryption key`, encryption!).set(`${agent.name} signing key`, signing!);
    agentKeys.set(agent.agentId, encryption!);
    if (agent.token) secrets.set(`${agent.name} enrolment token key`, parseEnrolmentToken(agent.token)!.tokenSeed);
  }
  const wrapped = (await scanAll(env.WRAPPED_KEYS_TABLE!)).map((line) => JSON.parse(line) as WrappedItem).filter((item) => item.accountId === accountId);
  const masters = new Map<number, Buffer>();
  let disagreeing = 0;
  for (const item of wrapped.filter((w) => w.sk.startsWith('MASTER#') && agentKeys.has(w.agentId))) {
    const master = await hpkeUnwrap(agentKeys.get(item.agentId)!, masterKeyContext({ accountId, version: item.version }), fromB64(item.wrappedMaster));
    if (!(masters.get(item.version)?.equals(master) ?? true)) disagreeing += 1;
    masters.set(item.version, master);
    secrets.set(`master key v${item.version}`, master);
  }
  const releases = wrapped.filter((w) => w.sk.startsWith('RELEASE#') && masters.has(w.version));
  for (const item of releases) {
    const context = releaseKeyUnderMasterContext({ accountId, appId: item.appId, releaseId: item.releaseId, version: item.version });
    secrets.set(`release key of ${item.releaseId}`, unwrapUnderMaster({ version: item.version, key: masters.get(item.version)! }, context, fromB64(item.wrappedReleaseKey)));
  }
  const configDir = path.dirname(cliConfigPath);
  for (const file of (await readdir(configDir)).filter((name) => /-key\..*\.json$/.test(name))) {
    secrets.set(file, fromB64((JSON.parse(await readFile(path.join(configDir, file), 'utf8')) as { privateKey: string }).privateKey));
  }
  return { secrets, masters, releases: releases.length, disagreeing };
};
