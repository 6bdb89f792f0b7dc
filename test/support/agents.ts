import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, inject } from 'vitest';
import { generateAgentKeys, generateRawKeyPair, loadAgentKeys } from '#shared/crypto/index.ts';
import {
  agentIdFor,
  masterWrapStatementOf,
  signAgentMessage,
  signMasterWrap,
  signBinding,
  signEnrolment,
  toB64,
  type AgentBinding,
  type EnrolmentStatement,
} from '#shared/protocol/trust.ts';
import { signStatement, type AgentStatement } from '#shared/protocol/statements.ts';
import { as, type Caller } from './accounts.ts';
import { waitFor } from './clients.ts';
import type { cliSession } from '../integration/cli/run-cli.ts';
import { agentCli as agentCliAs, initAndEnrol, spawnAgent } from '#local/demo/agent-process.ts';
import type { TestUsers } from './unix-users.ts';
import { whenTestEnds } from './test-scope.ts';

/** The owner key, made and registered the way the CLI does it. */
export const registerOwnerKey = async (owner: Caller) => {
  const key = generateRawKeyPair('ed25519');
  const response = await owner('PUT', '/account/owner-key', { publicKey: toB64(key.publicKey) });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return key;
};

/** An enrolment, signed by `signer` (normally the owner key). */
export const signedEnrolment = async (owner: Caller, signer: { privateKey: Uint8Array }, role: 'keyserver' | 'target', environments: string[] = []) => {
  const token = generateRawKeyPair('ed25519');
  const created = await owner('POST', '/enrolments', { role, environments, tokenPublicKey: toB64(token.publicKey) });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const statement = created.body.statement as EnrolmentStatement;
  const signature = signEnrolment(signer.privateKey, statement);
  return { enrolmentId: created.body.enrolmentId as string, statement, signature, token };
};

/**
 * The owner's agent statement for an enrolled agent, signed with `ownerKey` and recorded (PUT
 * /statements), as `latchkey agents confirm` does once the fingerprint matches: until then the
 * agent gets no keys. `changes` makes another version (a removal: `{ status: 'removed', version: 2 }`).
 */
export const confirmOverApi = async (
  owner: Caller,
  ownerKey: { privateKey: Uint8Array },
  agent: { accountId: string; agentId: string; role: 'keyserver' | 'target'; environments: string[]; encryptionKey: string; signingKey: string },
  changes: Partial<AgentStatement> = {},
) => {
  const signed = signStatement(ownerKey.privateKey, {
    v: 1,
    kind: 'agent',
    accountId: agent.accountId,
    agentId: agent.agentId,
    role: agent.role,
    environments: [...agent.environments].sort(),
    encryptionKey: agent.encryptionKey,
    signingKey: agent.signingKey,
    status: 'active',
    version: 1,
    issuedAt: new Date().toISOString(),
    ...changes,
  });
  const response = await owner('PUT', '/statements', signed);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return signed;
};

/** An agent enrolled over the API (and confirmed, unless told not to), holding its keys in memory: for tests that speak for an agent. */
export const enrolAgent = async (
  owner: Caller,
  ownerKey: { privateKey: Uint8Array },
  role: 'keyserver' | 'target' = 'keyserver',
  environments: string[] = [],
  /** Who sends the agent's own, token-less POST /agents: the shared stack unless a test runs its own. */
  anonymous: Caller = as(undefined),
  options: { confirm?: boolean } = {},
) => {
  const enrolment = await signedEnrolment(owner, ownerKey, role, environments);
  expect((await owner('PUT', `/enrolments/${enrolment.enrolmentId}/signature`, { signature: enrolment.signature })).status).toBe(200);
  const keys = generateAgentKeys();
  const binding: AgentBinding = {
    v: 1,
    accountId: enrolment.statement.accountId,
    enrolmentId: enrolment.enrolmentId,
    agentId: agentIdFor(keys.signing.publicKey),
    role,
    encryptionKey: toB64(keys.encryption.publicKey),
    signingKey: toB64(keys.signing.publicKey),
    enrolledAt: new Date().toISOString(),
  };
  const enrolled = await anonymous('POST', '/agents', {
    binding,
    tokenSignature: signBinding(enrolment.token.privateKey, binding),
    agentSignature: signBinding(keys.signing.privateKey, binding),
  });
  expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(201);
  const accountId = enrolment.statement.accountId;
  const confirm = (changes: Partial<AgentStatement> = {}) =>
    confirmOverApi(owner, ownerKey, { accountId, agentId: binding.agentId, role, environments: enrolment.statement.environments, encryptionKey: binding.encryptionKey, signingKey: binding.signingKey }, changes);
  const statement = options.confirm === false ? undefined : await confirm();
  return {
    /** The owner's agent statement recorded for it (undefined when not confirmed). */
    statement,
    /** Records another agent statement for it (another version: a removal, say). */
    confirm,
    agentId: binding.agentId,
    accountId,
    queueUrl: enrolled.body.queueUrl as string,
    keys,
    binding,
    /** A message on the reply queue as this agent would send it. */
    sign: <T extends Record<string, unknown>>(message: T) => ({ ...message, signature: signAgentMessage(keys.signing.privateKey, message) }),
    /** A master key copy for `recipientId` as this agent, a key server, would sign it. */
    masterCopy: (recipientId: string, version: number, wrappedMaster: string, commitment = '0'.repeat(64)) => ({
      agentId: recipientId,
      wrappedMaster,
      commitment,
      signature: signMasterWrap(keys.signing.privateKey, masterWrapStatementOf({ accountId, version, recipientId, wrappedMaster, commitment })),
    }),
    heartbeat: () => {
      const message = { type: 'heartbeat', accountId, agentId: binding.agentId, at: new Date().toISOString() };
      return { ...message, signature: signAgentMessage(keys.signing.privateKey, message) };
    },
  };
};

export const newRequestId = () => `req_${randomBytes(16).toString('hex')}`;

// ---- real `latchkey-agent` processes, state in temporary directories ----

export { type AgentLogLine } from '#local/demo/agent-process.ts';

/**
 * The users of this run (global-setup.ts): agents run as `agent`, with only CAP_SETUID and
 * CAP_SETGID, as the README's systemd unit runs them; their release code as `release`.
 */
export const unixUsers = (): TestUsers => {
  const users = inject('unixUsers');
  if ('missing' in users) throw new Error(users.missing);
  return users;
};

/** `latchkey-agent` run to completion as the agents' user (see unixUsers). */
export const agentCli = (args: string[], env: Record<string, string> = {}) => agentCliAs(args, env, unixUsers().agent);

/**
 * A directory the release user can write, like /opt/application on a target machine: where
 * deploy scripts put what they install. Removed when the test ends.
 */
export const releaseUserDir = async (name: string) => {
  const dir = await mkdtemp(path.join(tmpdir(), `latchkey-${name}-`));
  whenTestEnds(() => rm(dir, { recursive: true, force: true }));
  const { release } = unixUsers();
  await chown(dir, release.uid, release.gid);
  return dir;
};

/**
 * The agent's side of enrolment, as an operator runs it: init with the owner key (and the
 * release user, with a releases directory it owns beside the state), enrol with the token.
 */
export const enrolAgentProcess = async (options: { endpoint: string; ownerKey: string; token: string; name: string }) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-agent-it-'));
  whenTestEnds(() => rm(dir, { recursive: true, force: true }));
  const { agent, release } = unixUsers();
  // The agent's user creates its state directory here; the release user only passes through.
  await chown(dir, agent.uid, agent.gid);
  await chmod(dir, 0o755);
  const releasesDir = path.join(dir, 'releases');
  await mkdir(releasesDir, { mode: 0o755 });
  await chown(releasesDir, release.uid, release.gid);
  const enrolled = await initAndEnrol(path.join(dir, 'state'), { ...options, setup: { user: agent, install: { releaseUser: release.name, releasesDir } } });
  return { ...enrolled, releasesDir, appDir: (appId: string) => path.join(releasesDir, appId) };
};

/** What an enrolled agent process bound, read from its state (tests run as root): for confirmOverApi. */
export const enrolledAs = async (state: string) => {
  const { enrolment } = JSON.parse(await readFile(path.join(state, 'state.json'), 'utf8')) as { enrolment: { proof: { statement: { environments: string[] }; binding: AgentBinding } } };
  const { binding, statement } = enrolment.proof;
  return { accountId: binding.accountId, agentId: binding.agentId, role: binding.role, environments: statement.environments, encryptionKey: binding.encryptionKey, signingKey: binding.signingKey };
};

/** `latchkey-agent run` as a long-lived child process (local/demo/agent-process.ts), as the agents' user, killed when the test ends. */
export const runAgentProcess = (state: string, options: { logLevel?: 'debug' | 'info'; args?: string[] } = {}) => {
  const agent = spawnAgent(state, { ...options, user: unixUsers().agent });
  whenTestEnds(() => agent.kill());
  const { log } = agent;
  /** Waits for the agent to have answered a request of `type` (any outcome unless given). */
  const answered = (type: string, outcome?: 'succeeded' | 'failed', timeoutMs = 20_000) =>
    waitFor(
      `${state} to answer ${type}${outcome ? ` (${outcome})` : ''}`,
      async () => log.find((l) => l.msg === 'request answered' && l.type === type && (!outcome || l.outcome === outcome)),
      timeoutMs,
    );
  return { ...agent, answered };
};

/** What an agent keeps secret, read from its state directory: its two private keys. */
export const agentPrivateKeys = async (state: string) => {
  const keys = await loadAgentKeys(path.join(state, 'agent.key'));
  return [keys.encryption.privateKey, keys.signing.privateKey];
};

type CliJson = Pick<Awaited<ReturnType<typeof cliSession>>, 'json' | 'until' | 'routine' | 'endpoint'>;
export type ListedAgent = { agentId: string; name?: string; role: string; online: boolean; masterVersions: number[]; confirmed?: string | null };

/**
 * The owner confirms an enrolled agent with the fingerprint its operator read out, as a person
 * would (the binary for the session's first agent, in-process for the others: cli.routine).
 */
export const confirmAgent = (cli: CliJson, agent: { agentId: string; fingerprint: string }) => cli.routine(['agents', 'confirm', agent.agentId, '--fingerprint', agent.fingerprint]);

/**
 * An agent enrolled the way people do it: the owner runs `latchkey enrolments create`, an
 * operator initialises and enrols it with the token and reads the fingerprint `enrol` printed to
 * the owner, who confirms it (`confirm: false` leaves that last step out). The owner's two
 * commands run through the binary for the session's first agent, in-process for the others
 * (cli.routine); the agent's are always `latchkey-agent` processes.
 */
export const enrolThroughCli = async (cli: CliJson, name: string, role: 'keyserver' | 'target', environments: string[] = [], options: { confirm?: boolean } = {}) => {
  const enrolment = await cli.routine<{ token: string; ownerKey: string }>(['enrolments', 'create', '--role', role, ...environments.flatMap((env) => ['--env', env])]);
  const agent = await enrolAgentProcess({ endpoint: cli.endpoint, ownerKey: enrolment.ownerKey, token: enrolment.token, name });
  if (options.confirm !== false) await confirmAgent(cli, agent);
  return { ...agent, token: enrolment.token };
};

/**
 * A key server as the seeds run one: enrolled and confirmed through the CLI (enrolThroughCli),
 * then `latchkey-agent run`.
 */
export const startKeyServer = async (cli: CliJson, name: string, options: { logLevel?: 'debug' | 'info'; args?: string[] } = {}) => {
  const agent = await enrolThroughCli(cli, name, 'keyserver');
  return { ...agent, process: runAgentProcess(agent.state, options) };
};

/** Polls `latchkey agents list` until `check` holds, and returns the list (as the binary printed it: cli.until). */
export const untilAgents = (cli: CliJson, what: string, check: (byName: Record<string, ListedAgent>) => boolean, timeoutMs = 30_000) =>
  cli.until(
    what,
    ['agents', 'list'],
    (listed: ListedAgent[]) => {
      const byName = Object.fromEntries(listed.map((agent) => [agent.name ?? agent.agentId, agent]));
      return check(byName) ? byName : undefined;
    },
    timeoutMs,
  );
