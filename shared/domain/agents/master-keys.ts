import type { AgentReply, AgentRequest, MasterCopy } from '#shared/protocol/agent-messages.ts';
import { masterWraps, rewrappedReleaseKey } from '#shared/protocol/agent-messages.ts';
import { fromB64, masterWrapStatementOf, verifyMasterWrap } from '#shared/protocol/trust.ts';
import type { AgentQueues, AgentStore, KeyStore } from '#shared/ports/agent-store.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { ReleaseStore } from '#shared/ports/release-store.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { agentRecordOf, newRequestId } from './agents.ts';
import { isOnline as isSeenOnline } from './liveness.ts';
import { emptyMasterKeyState, planMasterKeyWork, sealingVersion, type MasterJob, type MasterKeyState, type RequestProgress } from './master-key-plan.ts';
import type { Agent, AgentRequestRecord, WrappedMaster } from './model.ts';

/** The requests this module sends: the master key's life and sealing. */
type KeyServerRequest = Extract<AgentRequest, { type: 'create-master-key' | 'share-master-key' | 'rewrap-release-key' }>;

type Deps = {
  agents: AgentStore;
  keys: KeyStore;
  queues: AgentQueues;
  releases: Pick<ReleaseStore, 'getRelease' | 'markSealed' | 'recordSealRequest' | 'acknowledgeSeal'>;
  audit: Pick<AuditTrail, 'append'>;
  clock: Clock;
  settings: MasterKeySettings;
  random?: () => number;
};

export type MasterKeySettings = {
  /** An agent is online while its last heartbeat reached the backend this recently. */
  onlineSeconds: number;
  /** A key server that has not acknowledged a request this long after it was sent is passed over. */
  ackSeconds: number;
  /** A key server that acknowledged a master-key request but has not answered this long after is passed over. */
  answerSeconds: number;
};

/** How many times a lost optimistic-lock race is retried before giving the work to the next trigger. */
const MAX_STATE_WRITES = 5;

/**
 * The master key's life, driven from the backend but never touching the key: the backend only
 * asks key servers to create, share or use it, and stores the wrapped copies they return. What to
 * ask is decided by master-key-plan.ts; this module runs the decision whenever something may have
 * changed — an enrolment, a removal, and every key server's heartbeat (so a request to a key
 * server that died is given to the next holder within seconds, with no timer of its own).
 */
export const makeMasterKeys = ({ agents, keys, queues, releases, audit, clock, settings, random = Math.random }: Deps) => {
  const isOnline = (agent: Agent, now = clock.now()) => isSeenOnline(agent, now, settings.onlineSeconds);
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
    const now = clock.now();
    const holders = keyServers.filter((agent) => isOnline(agent, now) && wraps.some((w) => w.agentId === agent.agentId && w.version === version));
    return shuffle(holders).map((agent) => {
      const wrap = wraps.find((w) => w.agentId === agent.agentId && w.version === version)!;
      return { agent, wrap, copy: () => copyOf(wrap) };
    });
  };

  /** One audit event per request, written by whichever delivery of its reply closed it. */
  const audited = async (request: Pick<AgentRequestRecord, 'accountId' | 'requestId' | 'type' | 'agentId'>, state: 'done' | 'failed', at: string, error?: string) => {
    if (!(await agents.closeRequest(request.accountId, request.requestId, state, at, error))) return;
    await audit.append(request.accountId, {
      action: `agents:${request.type}`,
      actor: null,
      target: { type: 'agent-request', id: request.requestId },
      outcome: state === 'done' ? 'succeeded' : 'refused',
      ...(error ? { reason: `Agent ${request.agentId}: ${error}` } : {}),
    });
  };

  /** The request a planned job sends: a fresh master key for every recipient, or the asked holder's copy for one. */
  const requestFor = async (job: MasterJob, byId: Map<string, Agent>, wraps: WrappedMaster[]): Promise<KeyServerRequest> => {
    const base = { requestId: job.requestId, accountId: byId.get(job.agentId)!.accountId, sentAt: job.sentAt, version: job.version };
    const records = job.recipients.map((id) => agentRecordOf(byId.get(id)!));
    if (job.kind === 'create') return { ...base, type: 'create-master-key', holders: records };
    const wrap = wraps.find((w) => w.agentId === job.agentId && w.version === job.version)!;
    return { ...base, type: 'share-master-key', ...(await copyOf(wrap)), recipients: records };
  };

  /**
   * Runs the plan once (on every key server's heartbeat: a key server the owner just confirmed is
   * planned for at the next one; agentsWithRole lists only confirmed key servers): 1. read the state, then how its requests went, then who holds what (in
   * that order, so a request seen answered has its copies in the read); 2. plan; 3. write the new
   * state over the revision read (a concurrent run that wrote first wins, and this one stops);
   * 4. close what was given up on; 5. send what was planned. A send that fails is not retried
   * here: its job is not acknowledged and the next run gives it to another key server.
   */
  const reconcile = async (accountId: string, change?: (state: MasterKeyState, versions: number[]) => MasterKeyState) => {
    for (let attempt = 0; attempt < MAX_STATE_WRITES; attempt += 1) {
      const read = (await agents.getMasterKeyState(accountId)) ?? emptyMasterKeyState();
      const progress = new Map<string, RequestProgress>();
      for (const job of read.jobs) {
        const request = await agents.getRequest(accountId, job.requestId);
        if (request) progress.set(job.requestId, { state: request.state, acknowledgedAt: request.acknowledgedAt });
      }
      const [keyServers, wraps] = await Promise.all([agents.agentsWithRole(accountId, 'keyserver'), keys.wrappedMasters(accountId)]);
      const state = change ? change(read, wraps.map((w) => w.version)) : read;
      const now = clock.now();
      const plan = planMasterKeyWork({
        now,
        keyServers: keyServers.map((k) => ({ agentId: k.agentId, online: isOnline(k, now) })),
        wraps,
        state,
        progress: (requestId) => progress.get(requestId),
        settings,
        pick: (items) => items[Math.floor(random() * items.length)]!,
        newRequestId,
      });
      if (!plan.changed && state === read) return { ...plan, unsent: [] };
      if (!(await agents.putMasterKeyState(accountId, plan.state, read.revision))) continue;
      const at = now.toISOString();
      for (const { job, reason, unresponsive } of plan.abandon) {
        if (unresponsive) await agents.markUnresponsive(accountId, job.agentId, at);
        await audited({ accountId, requestId: job.requestId, type: job.kind === 'create' ? 'create-master-key' : 'share-master-key', agentId: job.agentId }, 'failed', at, reason);
      }
      const byId = new Map(keyServers.map((k) => [k.agentId, k]));
      const unsent: { requestId: string; error: unknown }[] = [];
      for (const job of plan.ask) {
        try {
          await send(byId.get(job.agentId)!, await requestFor(job, byId, wraps), { recipients: job.recipients });
        } catch (error) {
          unsent.push({ requestId: job.requestId, error });
        }
      }
      return { ...plan, unsent };
    }
    return undefined;
  };

  return {
    onlineHolders,
    currentVersion,
    reconcile,

    /**
     * A key server was removed: every version it could hold — those made, and those being made —
     * takes no new releases; the next run asks an online key server for the next version.
     */
    onKeyServerRemoved: (accountId: string) =>
      reconcile(accountId, (state, versions) => ({ ...state, retiredThrough: Math.max(state.retiredThrough, state.highestAsked, ...versions) })),

    /**
     * The master key as people need to see it: the version new releases are sealed under, which
     * key servers hold it, and whether one loss would lose it.
     */
    status: async (accountId: string) => {
      const [state, keyServers, wraps] = await Promise.all([agents.getMasterKeyState(accountId), agents.agentsWithRole(accountId, 'keyserver'), keys.wrappedMasters(accountId)]);
      const version = sealingVersion(state ?? emptyMasterKeyState(), wraps.map((w) => w.version));
      const now = clock.now();
      const servers = keyServers.map((k) => {
        const versions = [...new Set(wraps.filter((w) => w.agentId === k.agentId).map((w) => w.version))].sort((a, b) => a - b);
        return { agentId: k.agentId, ...(k.name ? { name: k.name } : {}), online: isOnline(k, now), versions, holdsCurrent: version !== undefined && versions.includes(version) };
      });
      return { version: version ?? null, retiredThrough: state?.retiredThrough ?? 0, keyServers: servers, onlineHolders: servers.filter((k) => k.online && k.holdsCurrent).length };
    },

    /**
     * A key server took a request (its acknowledgement; the consumer checked it is this agent's
     * request). The first one is recorded: the plan and the pusher stop waiting for another key
     * server to be asked. A seal's acknowledgement shows on the release the pusher is watching.
     */
    onAcknowledged: async (request: AgentRequestRecord) => {
      const at = clock.now().toISOString();
      if (!(await agents.acknowledgeRequest(request.accountId, request.requestId, at))) return;
      if (request.type === 'rewrap-release-key' && request.releaseId) await releases.acknowledgeSeal(request.accountId, request.releaseId, request.requestId, at);
    },

    /**
     * Asks one key server to re-wrap a release key, HPKE-wrapped to it by the pusher, under the
     * version new releases are sealed under. The pusher asks the next key server when this one
     * does not acknowledge in time: the request it replaces is closed first, so a late answer to
     * it is not taken.
     */
    seal: async (accountId: string, releaseId: string, agentId: string, wrappedReleaseKey: string) => {
      const release = await releases.getRelease(accountId, releaseId);
      if (!release) throw new NotFoundError('No such release');
      if (!release.encrypted || release.state !== 'sealing') throw new ConflictError(`The release is ${release.encrypted ? release.state : 'not encrypted'}: nothing to seal`);
      const [state, { wraps }] = await Promise.all([agents.getMasterKeyState(accountId), currentVersion(accountId)]);
      const version = sealingVersion(state ?? emptyMasterKeyState(), wraps.map((w) => w.version));
      if (version === undefined) {
        throw new ConflictError(
          wraps.length
            ? 'A key server was removed and the master key is being replaced: new releases wait for the next version (try again in a few seconds)'
            : 'There is no master key yet: it is made once two key servers are enrolled and online',
        );
      }
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
      const replaced = await releases.recordSealRequest(accountId, releaseId, { requestId: request.requestId, agentId, sentAt: request.sentAt });
      // The pusher moved on from a key server that never took its request: passed over from now on.
      if (replaced && !replaced.acknowledgedAt && Date.parse(request.sentAt) - Date.parse(replaced.sentAt) >= settings.ackSeconds * 1000) {
        await agents.markUnresponsive(accountId, replaced.agentId, request.sentAt);
      }
      if (replaced) await audited({ accountId, requestId: replaced.requestId, type: 'rewrap-release-key', agentId: replaced.agentId }, 'failed', request.sentAt, `Superseded: the pusher asked key server ${agentId} instead`);
      await send(holder.agent, request, { releaseId });
      return { ...release, sealRequest: { requestId: request.requestId, agentId, sentAt: request.sentAt } };
    },

    /**
     * A verified reply to a request we sent: take from it only what was asked — wraps for the
     * recipients named in the request, each signed by the agent that answered, the re-wrapped key
     * of the release named in it. A refusal is closed and audited like any other outcome.
     */
    onReply: async (request: AgentRequestRecord, reply: AgentReply, replier: Agent) => {
      const now = clock.now().toISOString();
      if (reply.outcome === 'failed') return audited(request, 'failed', now, `${reply.error.code}: ${reply.error.message}`);
      if (request.type === 'learn-statements') {
        // Nothing to keep: the agent pinned what it was sent.
      } else if (request.type === 'rewrap-release-key') {
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
