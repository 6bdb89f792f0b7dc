import { randomInt } from 'node:crypto';
import { hpkeWrap } from '#shared/crypto/index.ts';
import { releaseKeyToKeyServerContext } from '#shared/protocol/key-contexts.ts';
import { toB64, verifyAgentProof } from '#shared/protocol/trust.ts';
import type { ApiClient, ItemOf, ResponseOf } from '../api-client.ts';
import { CliError, RefusedError } from '../errors.ts';
import type { Output } from '../output.ts';

type AgentView = ItemOf<'GET /agents'>;
type ReleaseView = ResponseOf<'GET /apps/{id}/releases/{releaseId}'>;

export type KeyServer = { agentId: string; label: string; encryptionKey: Buffer };

/**
 * The key servers a release key may be wrapped to: online, holding the current (highest) master
 * key version, and proven enrolled by the owner. The encryption key used is the one the proof
 * binds, never the API's top-level copy, so the API cannot slip in a key of its own.
 */
export const eligibleKeyServers = (agents: readonly AgentView[], ownerPublicKey: Uint8Array, accountId: string) => {
  const keyServers = agents.filter((agent) => agent.role === 'keyserver');
  const version = Math.max(0, ...keyServers.flatMap((agent) => agent.masterVersions));
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

/**
 * Hands the release key to one key server after another, in the order given, until one has
 * re-wrapped it under the master key (the release turns `ready`) — each gets `timeoutMs`.
 */
export const sealRelease = async (options: {
  client: ApiClient;
  out: Output;
  ids: { accountId: string; appId: string; releaseId: string };
  releaseKey: Uint8Array;
  servers: readonly KeyServer[];
  timeoutMs: number;
  sleep: (ms: number) => Promise<void>;
  now?: () => number;
}): Promise<{ release: ReleaseView; sealedBy: string }> => {
  const { client, out, ids, releaseKey, servers, timeoutMs, sleep } = options;
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
    for (let waited = 0; release.state !== 'ready' && waited < timeoutMs && now() - started < timeoutMs; waited += POLL_MS) {
      await sleep(POLL_MS);
      release = await client.call('GET /apps/{id}/releases/{releaseId}', { params });
    }
    if (release.state === 'ready') return { release, sealedBy: server.agentId };
    out.note(`Key server ${server.label} did not seal the release within ${timeoutMs / 1000} s; asking the next one.`);
  }
  throw new RefusedError(`No key server sealed release ${ids.releaseId}: it was uploaded but cannot be deployed`, {
    hint: 'Check `latchkey agents list` (are key servers online?) and push again.',
  });
};
