import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import type { enrolAgentInput } from '#shared/protocol/agents.ts';
import type { AgentRecord } from '#shared/protocol/agent-messages.ts';
import { UntrustedAgentError, fromB64, verifyAgentProof, verifySessionChallenge } from '#shared/protocol/trust.ts';
import type { SignedStatement } from '#shared/protocol/statements.ts';
import type { AgentQueues, AgentStore, CredentialIssuer, KeyStore } from '#shared/ports/agent-store.ts';
import type { StatementStore } from '#shared/ports/statement-store.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import type { Act } from '../access/act.ts';
import type { Actor } from '../access/actor.ts';
import { ConflictError, NotFoundError, UnauthenticatedError, ValidationError } from '../errors.ts';
import { ownerSignatureVerifies, statementOf } from './enrolments.ts';
import { isOnline as isSeenOnline } from './liveness.ts';
import type { MasterKeys } from './master-keys.ts';
import type { Agent } from './model.ts';

/** A session challenge older or newer than this is refused: clocks may drift, replays may not. */
export const SESSION_SKEW_SECONDS = 120;

export const agentRecordOf = (agent: Agent): AgentRecord => ({
  agentId: agent.agentId,
  role: agent.role,
  encryptionKey: agent.encryptionKey,
  signingKey: agent.signingKey,
  proof: agent.proof,
  ...(agent.statement ? { statement: agent.statement } : {}),
});

type Deps = {
  directory: Pick<DirectoryStore, 'getAccount'>;
  agents: AgentStore;
  keys: Pick<KeyStore, 'wrappedMasters'>;
  queues: AgentQueues;
  credentials: CredentialIssuer;
  masterKeys: Pick<MasterKeys, 'onKeyServerRemoved' | 'status'>;
  statements: Pick<StatementStore, 'get'>;
  act: Act;
  clock: Clock;
  onlineSeconds: number;
  heartbeatSeconds: number;
  replyQueueUrl: string;
  region: string;
  sqsEndpoint?: string;
};

export const makeAgents = ({ directory, agents, keys, queues, credentials, masterKeys, statements, act, clock, onlineSeconds, heartbeatSeconds, replyQueueUrl, region, sqsEndpoint }: Deps) => {
  const isOnline = (agent: Agent, now = clock.now()) => isSeenOnline(agent, now, onlineSeconds);

  /**
   * Sends owner statements to every agent the owner confirmed, to pin (learn-statements). One that
   * cannot be sent is closed as failed, saying why; the others still go.
   */
  const tellAgents = async (accountId: string, signed: SignedStatement[], except: string) => {
    const recipients = [...(await agents.agentsWithRole(accountId, 'keyserver')), ...(await agents.agentsWithRole(accountId, 'target'))].filter((a) => a.agentId !== except);
    for (const agent of recipients) {
      const request = { type: 'learn-statements' as const, requestId: newRequestId(), accountId, sentAt: clock.now().toISOString(), statements: signed };
      await agents.putRequest({ accountId, requestId: request.requestId, type: request.type, agentId: agent.agentId, version: 0, state: 'pending', createdAt: request.sentAt });
      try {
        await queues.send(agent.queueUrl, request);
      } catch (error) {
        await agents.closeRequest(accountId, request.requestId, 'failed', clock.now().toISOString(), `not sent (${(error as Error).name})`);
      }
    }
  };

  return {
    isOnline,

    /**
     * 1. The enrolment must exist, be signed by the owner key and be unused and unexpired.
     * 2. The proof must verify exactly as a peer would check it (owner, token and agent
     *    signatures), so the backend never records an agent that peers would refuse.
     * 3. Claim the enrolment (single use), make the agent's queue, record the agent.
     * 4. It gets keys once the owner confirms it: `latchkey agents confirm` signs an agent
     *    statement for the keys the agent printed on its own machine (statements.ts).
     */
    enrol: async (input: z.infer<typeof enrolAgentInput>) => {
      const { binding } = input;
      const [account, enrolment] = await Promise.all([
        directory.getAccount(binding.accountId),
        agents.getEnrolment(binding.accountId, binding.enrolmentId),
      ]);
      const now = clock.now();
      if (!account?.ownerKey || !enrolment?.ownerSignature) throw new NotFoundError('No such signed enrolment');
      if (enrolment.usedAt) throw new ConflictError('This enrolment was already used');
      if (enrolment.expiresAt <= now.toISOString()) throw new ConflictError('This enrolment has expired');
      const statement = statementOf(enrolment);
      if (!ownerSignatureVerifies(account.ownerKey.publicKey, statement, enrolment.ownerSignature)) {
        throw new ConflictError('The enrolment is not signed by the current owner key');
      }
      const proof = { statement, ownerSignature: enrolment.ownerSignature, binding, tokenSignature: input.tokenSignature, agentSignature: input.agentSignature };
      try {
        verifyAgentProof(fromB64(account.ownerKey.publicKey), proof, { accountId: account.accountId });
      } catch (error) {
        if (error instanceof UntrustedAgentError) throw new ValidationError(error.message, 'binding');
        throw error;
      }
      if (!(await agents.useEnrolment(account.accountId, enrolment.enrolmentId, binding.agentId, now.toISOString()))) {
        throw new ConflictError('This enrolment was already used');
      }
      const queueUrl = await queues.create(binding.agentId);
      const agent: Agent = {
        accountId: account.accountId,
        agentId: binding.agentId,
        ...(input.name ? { name: input.name } : {}),
        role: enrolment.role,
        environments: enrolment.environments,
        encryptionKey: binding.encryptionKey,
        signingKey: binding.signingKey,
        proof,
        queueUrl,
        enrolledAt: now.toISOString(),
      };
      // 4. Nothing more until the owner confirms it (an agent statement): until then no key
      //    server plans for it and no peer trusts it.
      await agents.putAgent(agent);
      return { agentId: agent.agentId, queueUrl };
    },

    list: (actor: Actor, page: PageRequest) =>
      act(actor, 'agents:list', { audited: false }, async () => {
        const [result, wraps] = await Promise.all([agents.listAgents(actor.accountId, page), keys.wrappedMasters(actor.accountId)]);
        const now = clock.now();
        return {
          ...result,
          items: result.items.map((agent) => ({
            ...agentRecordOf(agent),
            ...(agent.name ? { name: agent.name } : {}),
            environments: agent.environments,
            enrolledAt: agent.enrolledAt,
            ...(agent.lastSeenAt ? { lastSeenAt: agent.lastSeenAt } : {}),
            online: isOnline(agent, now),
            masterVersions: [...new Set(wraps.filter((w) => w.agentId === agent.agentId).map((w) => w.version))].sort((a, b) => a - b),
          })),
        };
      }),

    masterKey: (actor: Actor) => act(actor, 'agents:list', { audited: false }, () => masterKeys.status(actor.accountId)),

    /**
     * 1. The owner's signed removal (an agent statement with status removed) must be on record:
     *    a token alone removes no agent, and the removal is what peers go by.
     * 2. Mark it removed and delete its queue.
     * 3. Every other confirmed agent is sent the removal to pin: a backend that later shows the
     *    agent as it was is refused by them.
     * 4. A key server's master key versions take no new releases: the next is made without it.
     */
    remove: (actor: Actor, agentId: string) =>
      act(actor, 'agents:remove', { target: { type: 'agent', id: agentId } }, async () => {
        if (!(await agents.getAgent(actor.accountId, agentId))) throw new NotFoundError('No such agent');
        const removal = await statements.get(actor.accountId, 'agent', agentId);
        if (removal?.statement.kind !== 'agent' || removal.statement.status !== 'removed') {
          throw new ConflictError('The owner signs an agent’s removal first: `latchkey agents remove` signs it, then removes the agent');
        }
        const removed = await agents.removeAgent(actor.accountId, agentId, clock.now().toISOString());
        if (!removed) throw new NotFoundError('No such agent');
        await queues.remove(removed.queueUrl);
        await tellAgents(actor.accountId, [{ statement: removal.statement, signature: removal.signature }], agentId);
        if (removed.role === 'keyserver') await masterKeys.onKeyServerRemoved(actor.accountId);
        return { ...agentRecordOf(removed), environments: removed.environments, enrolledAt: removed.enrolledAt, online: false, masterVersions: [] };
      }),

    /**
     * Short-lived queue credentials for an agent that proves it holds its signing key: a fresh
     * signed timestamp, newer than the last one accepted (no replays).
     */
    session: async (agentId: string, at: string, signature: string) => {
      const refused = () => new UnauthenticatedError('The session challenge does not verify');
      const agent = await agents.findAgent(agentId);
      const now = clock.now();
      if (!agent || agent.removedAt) throw refused();
      if (Math.abs(new Date(at).getTime() - now.getTime()) > SESSION_SKEW_SECONDS * 1000) throw refused();
      if (!verifySessionChallenge(fromB64(agent.signingKey), agentId, at, signature)) throw refused();
      if (!(await agents.acceptSession(agent.accountId, agentId, at))) throw refused();
      const issued = await credentials.issue({ agentId, queueUrl: agent.queueUrl });
      return {
        agentId,
        region,
        queueUrl: agent.queueUrl,
        replyQueueUrl,
        credentials: issued,
        ...(sqsEndpoint ? { sqsEndpoint } : {}),
        heartbeatSeconds,
      };
    },
  };
};

/** Request ids for messages to agents. */
export const newRequestId = () => `req_${randomBytes(16).toString('hex')}`;
