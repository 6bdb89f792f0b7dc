import type { AgentReply, AgentRequest, MasterCopy } from '#shared/protocol/agent-messages.ts';
import { masterWraps, rewrappedReleaseKey } from '#shared/protocol/agent-messages.ts';
import { fromB64, masterWrapStatementOf, verifyMasterWrap } from '#shared/protocol/trust.ts';
import type { AgentQueues, AgentStore, KeyStore } from '#shared/ports/agent-store.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { ReleaseStore } from '#shared/ports/release-store.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { agentRecordOf, newRequestId } from './agents.ts';
import type { Agent, AgentRequestRecord, WrappedMaster } from './model.ts';

/** The requests this module sends: the master key's life and sealing. */
type KeyServerRequest = Extract<AgentRequest, { type: 'create-master-key' | 'share-master-key' | 'rewrap-release-key' }>;

type Deps = {
  agents: AgentStore;
  keys: KeyStore;
  queues: AgentQueues;
  releases: Pick<ReleaseStore, 'getRelease' | 'markSealed'>;
  audit: Pick<AuditTrail, 'append'>;
  clock: Clock;
  onlineSeconds: number;
  random?: () => number;
};

/**
 * The master key's life, driven from the backend but never touching the key: the backend only
 * asks key servers to create, share or use it, and stores the wrapped copies they return.
 */
export const makeMasterKeys = ({ agents, keys, queues, releases, audit, clock, onlineSeconds, random = Math.random }: Deps) => {
  const onlineSince = () => new Date(clock.now().getTime() - onlineSeconds * 1000).toISOString();
  const isOnline = (agent: Agent) => !agent.removedAt && !!agent.lastSeenAt && agent.lastSeenAt >= onlineSince();
  const shuffle = <T>(items: T[]) => items.map((item) => ({ item, key: random() })).sort((a, b) => a.key - b.key).map(({ item }) => item);

  const send = async (agent: Agent, request: KeyServerRequest, record: Omit<AgentRequestRecord, 'state' | 'createdAt' | 'requestId' | 'accountId' | 'agentId' | 'type' | 'version'>) => {
    await agents.putRequest({
      accountId: agent.accountId,
      requestId: request.requestId,
      type: request.type,
      agentId: agent.agentId,
      version: request.version,
      state: 'pending',
      createdAt: request.sentAt,
      ...record,
    });
    await queues.send(agent.queueUrl, request);
  };

  const currentVersion = async (accountId: string) => {
    const wraps = await keys.wrappedMasters(accountId);
    const version = Math.max(0, ...wraps.map((w) => w.version));
    return { version, wraps };
  };

  /**
   * A holder's copy as a request hands it over: with the signature and the record of the key
   * server that made it, which the holder checks before opening it. The wrapper may have been
   * removed since: what it signed then still says who made the copy.
   */
  const copyOf = async (wrap: WrappedMaster): Promise<MasterCopy> => {
    const wrapper = await agents.getAgent(wrap.accountId, wrap.wrappedBy);
    if (!wrapper) throw new Error(`the key server ${wrap.wrappedBy} that made a master key copy is not on record`);
    return { wrappedMaster: wrap.wrappedMaster, masterCommitment: wrap.commitment, masterWrapSignature: wrap.signature, masterWrapper: agentRecordOf(wrapper) };
  };

  /**
   * Online key servers holding `version`, in random order: each request goes to one. `copy()`
   * gives the holder's signed copy, to spread into the request.
   */
  const onlineHolders = async (accountId: string, version: number) => {
    const [keyServers, wraps] = await Promise.all([agents.agentsWithRole(accountId, 'keyserver'), keys.wrappedMasters(accountId)]);
    const holders = keyServers.filter((agent) => isOnline(agent) && wraps.some((w) => w.agentId === agent.agentId && w.version === version));
    return shuffle(holders).map((agent) => {
      const wrap = wraps.find((w) => w.agentId === agent.agentId && w.version === version)!;
      return { agent, wrap, copy: () => copyOf(wrap) };
    });
  };

  /** One audit event per request, written by whichever delivery of its reply closed it. */
  const audited = async (request: AgentRequestRecord, state: 'done' | 'failed', at: string, error?: string) => {
    if (!(await agents.closeRequest(request.accountId, request.requestId, state, at, error))) return;
    await audit.append(request.accountId, {
      action: `agents:${request.type}`,
      actor: null,
      target: { type: 'agent-request', id: request.requestId },
      outcome: state === 'done' ? 'succeeded' : 'refused',
      ...(error ? { reason: `Agent ${request.agentId}: ${error}` } : {}),
    });
  };

  const createOn = async (creator: Agent, version: number, holders: Agent[]) => {
    const request: KeyServerRequest = {
      type: 'create-master-key',
      requestId: newRequestId(),
      accountId: creator.accountId,
      sentAt: clock.now().toISOString(),
      version,
      holders: holders.map(agentRecordOf),
    };
    await send(creator, request, { recipients: holders.map((h) => h.agentId) });
  };

  return {
    onlineHolders,
    currentVersion,

    /**
     * 1. No master key yet: once there are two key servers, the newest creates version 1 for all.
     * 2. Else an online holder shares the current version with the newcomer.
     * 3. Else nobody online holds it: the newcomer creates the next version, with every online
     *    key server as a holder. Releases under the old version stay undeployable until a holder
     *    of it comes back — by design, never worked around.
     */
    onKeyServerEnrolled: async (newcomer: Agent) => {
      const keyServers = await agents.agentsWithRole(newcomer.accountId, 'keyserver');
      const { version } = await currentVersion(newcomer.accountId);
      if (version === 0) {
        if (keyServers.length >= 2) await createOn(newcomer, 1, keyServers);
        return;
      }
      const [holder] = await onlineHolders(newcomer.accountId, version);
      if (holder) {
        const request: KeyServerRequest = {
          type: 'share-master-key',
          requestId: newRequestId(),
          accountId: newcomer.accountId,
          sentAt: clock.now().toISOString(),
          version,
          ...(await holder.copy()),
          recipients: [agentRecordOf(newcomer)],
        };
        await send(holder.agent, request, { recipients: [newcomer.agentId] });
        return;
      }
      const online = keyServers.filter((agent) => agent.agentId !== newcomer.agentId && isOnline(agent));
      await createOn(newcomer, version + 1, [newcomer, ...online]);
    },

    /** Asks one key server to re-wrap a release key, HPKE-wrapped to it by the pusher, under the current master key. */
    seal: async (accountId: string, releaseId: string, agentId: string, wrappedReleaseKey: string) => {
      const release = await releases.getRelease(accountId, releaseId);
      if (!release) throw new NotFoundError('No such release');
      if (!release.encrypted || release.state !== 'sealing') throw new ConflictError(`The release is ${release.encrypted ? release.state : 'not encrypted'}: nothing to seal`);
      const { version } = await currentVersion(accountId);
      const holder = (await onlineHolders(accountId, version)).find((h) => h.agent.agentId === agentId);
      if (!holder) throw new ConflictError(`Agent ${agentId} is not an online key server holding master key version ${version}`);
      const request: KeyServerRequest = {
        type: 'rewrap-release-key',
        requestId: newRequestId(),
        accountId,
        sentAt: clock.now().toISOString(),
        appId: release.appId,
        releaseId,
        version,
        ...(await holder.copy()),
        wrappedReleaseKey,
      };
      await send(holder.agent, request, { releaseId });
      return release;
    },

    /**
     * A verified reply to a request we sent: take from it only what was asked — wraps for the
     * recipients named in the request, each signed by the agent that answered, the re-wrapped key
     * of the release named in it. A refusal is closed and audited like any other outcome.
     */
    onReply: async (request: AgentRequestRecord, reply: AgentReply, replier: Agent) => {
      const now = clock.now().toISOString();
      if (reply.outcome === 'failed') return audited(request, 'failed', now, `${reply.error.code}: ${reply.error.message}`);
      if (request.type === 'rewrap-release-key') {
        const result = rewrappedReleaseKey.parse(reply.result);
        if (result.version !== request.version || !request.releaseId) throw new Error('reply does not match its request');
        const release = await releases.getRelease(request.accountId, request.releaseId);
        if (!release) return;
        await keys.putWrappedReleaseKey({
          accountId: request.accountId,
          releaseId: request.releaseId,
          appId: release.appId,
          version: result.version,
          wrappedReleaseKey: result.wrappedReleaseKey,
          createdAt: now,
        });
        await releases.markSealed(request.accountId, request.releaseId, result.version, now);
      } else {
        const result = masterWraps.parse(reply.result);
        if (result.version !== request.version) throw new Error('reply does not match its request');
        // The proof's key, never the record's top-level copy (trust.ts); a copy its maker did not
        // sign would be refused by its recipient later, so it is refused now, storing nothing.
        const signingKey = fromB64(replier.proof.binding.signingKey);
        const asked = result.wraps.filter((wrap) => request.recipients?.includes(wrap.agentId));
        const unsigned = asked.find(
          (wrap) => !verifyMasterWrap(signingKey, masterWrapStatementOf({ ...wrap, accountId: request.accountId, version: result.version, recipientId: wrap.agentId }), wrap.signature),
        );
        if (unsigned) return audited(request, 'failed', now, `BadWrapSignature: the copy for ${unsigned.agentId} is not signed by ${replier.agentId}`);
        for (const wrap of asked) {
          await keys.putWrappedMaster({
            accountId: request.accountId,
            version: result.version,
            agentId: wrap.agentId,
            wrappedMaster: wrap.wrappedMaster,
            commitment: wrap.commitment,
            signature: wrap.signature,
            wrappedBy: replier.agentId,
            createdAt: now,
          });
        }
      }
      await audited(request, 'done', now);
    },
  };
};

export type MasterKeys = ReturnType<typeof makeMasterKeys>;
