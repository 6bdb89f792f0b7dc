import { randomInt } from 'node:crypto';
import { hpkeWrap } from '#shared/crypto/hpke-wrap.ts';
import { releaseKeyToKeyServerContext } from '#shared/protocol/key-contexts.ts';
import { verifyStatement, type StatementPins } from '#shared/protocol/statements.ts';
import { fromB64, toB64, verifyAgentProof } from '#shared/protocol/trust.ts';
import type { ApiClient, ItemOf, ResponseOf } from '../api-client.ts';
import { CliError, RefusedError } from '../errors.ts';
import type { Output } from '../output.ts';

type AgentView = ItemOf<'GET /agents'>;
type ReleaseView = ResponseOf<'GET /apps/{id}/releases/{releaseId}'>;

export type KeyServer = { agentId: string; label: string; encryptionKey: Buffer };

/**
 * The key servers a release key may be wrapped to: online, holding the master key version new
 * releases are sealed under (GET /master-key; none while it is being replaced), proven enrolled
 * by the owner, and confirmed by the owner: an active agent statement, no older than `pins` (when
 * this machine keeps them), naming the very keys of the proof. The encryption key used is the
 * one the proof binds, never the API's top-level copy, so the API cannot slip in a key of its own.
 */
export const eligibleKeyServers = (agents: readonly AgentView[], ownerPublicKey: Uint8Array, accountId: string, version: number | null, pins: StatementPins = {}) => {
  const keyServers = agents.filter((agent) => agent.role === 'keyserver');
  if (version === null) return { version, eligible: [] as KeyServer[], skipped: keyServers.map((agent) => `${agent.name ?? agent.agentId}: no master key takes new releases yet`) };
  const eligible: KeyServer[] = [];
  const skipped: string[] = [];
  for (const agent of keyServers) {
    const label = agent.name ? `${agent.name} (${agent.agentId})` : agent.agentId;
    if (!agent.online) {
      skipped.push(`${label}: offline`);
      continue;
    }
    if (!agent.masterVersions.includes(version)) {
      skipped.push(`${label}: does not hold master key v${version}`);
      continue;
    }
    try {
      const proven = verifyAgentProof(ownerPublicKey, agent.proof, { accountId });
      if (proven.agentId !== agent.agentId || proven.role !== 'keyserver') throw new Error('its id or role differs from its proof');
      if (!agent.statement) throw new Error('the account owner has not confirmed it');
      const confirmed = verifyStatement(ownerPublicKey, agent.statement, { kind: 'agent', accountId, subject: agent.agentId, pinned: pins[`agent:${agent.agentId}`] });
      if (confirmed.status !== 'active') throw new Error('the account owner removed it');
      if (!fromB64(confirmed.encryptionKey).equals(proven.encryptionKey) || !fromB64(confirmed.signingKey).equals(proven.signingKey)) {
        throw new Error('the account owner confirmed other keys for it');
      }
      eligible.push({ agentId: agent.agentId, label, encryptionKey: proven.encryptionKey });
    } catch (error) {
      skipped.push(`${label}: not trusted (${(error as Error).message.replace(/^Agent \S+ is not trusted: /, '')})`);
    }
  }
  return { version, eligible, skipped };
};

/** Fisher–Yates with a CSPRNG: which key server gets a release should not be predictable. */
export const shuffle = <T>(items: readonly T[], random: (max: number) => number = randomInt): T[] => {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
};

export const POLL_MS = 500;

/** A key server takes a request (its acknowledgement) within a second when it is alive: one that has not after this is passed over. */
export const ACK_TIMEOUT_MS = 5_000;

/**
 * The key servers to try. While no master key version takes new releases but one existed (a key
 * server was removed and the next version is being made, which takes seconds), it waits up to
 * `waitMs` for the next one.
 */
export const keyServersForSealing = async (options: {
  client: ApiClient;
  ownerPublicKey: Uint8Array;
  accountId: string;
  waitMs: number;
  sleep: (ms: number) => Promise<void>;
  now?: () => number;
  /** The statement versions this machine pinned (cli/statement-pins.ts), when the caller keeps them. */
  pins?: StatementPins;
}) => {
  const now = options.now ?? Date.now;
  const started = now();
  for (let waited = 0; ; waited += POLL_MS) {
    const [status, agents] = await Promise.all([options.client.call('GET /master-key'), options.client.list('GET /agents')]);
    const found = eligibleKeyServers(agents.items, options.ownerPublicKey, options.accountId, status.version, options.pins);
    const replacing = status.version === null && status.retiredThrough > 0;
    if (!replacing || Math.max(waited, now() - started) >= options.waitMs) return found;
    await options.sleep(POLL_MS);
  }
};

/**
 * Hands the release key to one key server after another, in the order given, until one has
 * re-wrapped it under the master key (the release turns `ready`). A key server that has not taken
 * the request within `ackTimeoutMs` is passed over at once (it died, though still listed online);
 * one that took it gets `timeoutMs` to finish.
 */
export const sealRelease = async (options: {
  client: ApiClient;
  out: Output;
  ids: { accountId: string; appId: string; releaseId: string };
  releaseKey: Uint8Array;
  servers: readonly KeyServer[];
  timeoutMs: number;
  ackTimeoutMs?: number;
  sleep: (ms: number) => Promise<void>;
  now?: () => number;
}): Promise<{ release: ReleaseView; sealedBy: string }> => {
  const { client, out, ids, releaseKey, servers, timeoutMs, sleep } = options;
  const ackTimeoutMs = Math.min(options.ackTimeoutMs ?? ACK_TIMEOUT_MS, timeoutMs);
  const now = options.now ?? Date.now;
  const params = { id: ids.appId, releaseId: ids.releaseId };
  const context = releaseKeyToKeyServerContext(ids);
  for (const server of servers) {
    const wrapped = await hpkeWrap(server.encryptionKey, context, releaseKey);
    let release: ReleaseView;
    try {
      release = await client.call('POST /apps/{id}/releases/{releaseId}/seal', { params, body: { agentId: server.agentId, wrappedReleaseKey: toB64(wrapped) } });
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      out.note(`Key server ${server.label} could not take the release key (${error.message}); asking the next one.`);
      continue;
    }
    const started = now();
    const taken = () => release.sealing?.agentId === server.agentId && release.sealing.acknowledged;
    // Counted in polls as well as by the clock, so a test's instant sleep still ends the wait.
    for (let waited = 0; release.state !== 'ready'; waited += POLL_MS) {
      const elapsed = Math.max(waited, now() - started);
      if (elapsed >= timeoutMs || (!taken() && elapsed >= ackTimeoutMs)) break;
      await sleep(POLL_MS);
      release = await client.call('GET /apps/{id}/releases/{releaseId}', { params });
    }
    if (release.state === 'ready') return { release, sealedBy: server.agentId };
    out.note(
      taken()
        ? `Key server ${server.label} did not seal the release within ${timeoutMs / 1000} s; asking the next one.`
        : `Key server ${server.label} did not take the release key within ${ackTimeoutMs / 1000} s; asking the next one.`,
    );
  }
  throw new RefusedError(`No key server sealed release ${ids.releaseId}: it was uploaded but cannot be deployed`, {
    hint: 'Check `latchkey agents list` (are key servers online?) and push again.',
  });
};
