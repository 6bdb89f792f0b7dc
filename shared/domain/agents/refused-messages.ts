import { z } from 'zod';
import type { AgentStore } from '#shared/ports/agent-store.ts';
import { agentId, requestId } from '#shared/protocol/agent-messages.ts';
import { accountId } from '#shared/protocol/common.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';

/** Why the reply consumer refused a message: each is final, so the message is dropped, not retried. */
export type Refusal =
  | 'TooLarge'
  | 'NotJson'
  | 'Malformed'
  | 'UnknownAgent'
  | 'BadSignature'
  | 'RemovedAgent'
  | 'UnknownRequest'
  | 'NotThisAgentsRequest'
  | 'ReportForAnotherDeployment';

/** What a refusal may name: the queue's message id, and whichever ids the message carried well-formed. */
export type RefusedMessage = { messageId: string; accountId?: string; agentId?: string; requestId?: string };

const idFields = { accountId, agentId, requestId } as const;

/**
 * The ids of a message that failed its schema, each kept only if it is a well-formed id, so a
 * refusal can still be attributed and logged without repeating anything else the sender wrote.
 */
export const idsOf = (json: unknown): Omit<RefusedMessage, 'messageId'> => {
  if (typeof json !== 'object' || json === null) return {};
  const ids: Record<string, string> = {};
  for (const [name, schema] of Object.entries(idFields)) {
    const value = z.string().pipe(schema).safeParse((json as Record<string, unknown>)[name]);
    if (value.success) ids[name] = value.data;
  }
  return ids;
};

/**
 * A refused message is audited in an account only when it names an agent on record there
 * (removed ones too): that account's owner wants to see a forged, stale or broken message in
 * its agent's name. A message that names no such agent cannot be attributed: its account id is
 * only text anyone with the reply queue could type, and auditing it would let any agent of any
 * account write into another account's log. Those the caller logs, by ids only. Either way the
 * record names the queue's message id, never the payload, and is written once per message id:
 * a redelivery of the same message (SQS delivers at least once) audits nothing new.
 */
export const makeRefusedMessages = ({ agents, audit }: { agents: Pick<AgentStore, 'getAgent'>; audit: Pick<AuditTrail, 'appendOnce'> }) => ({
  /** Audits the refusal if it can be attributed; true if it is (by this delivery or an earlier one). */
  refuse: async (message: RefusedMessage, refusal: Refusal): Promise<boolean> => {
    if (!message.accountId || !message.agentId) return false;
    if (!(await agents.getAgent(message.accountId, message.agentId))) return false;
    await audit.appendOnce(message.accountId, `agent-message#${message.messageId}`, {
      action: 'agents:message-refused',
      actor: null,
      target: { type: 'agent-message', id: message.messageId },
      outcome: 'refused',
      reason: `${refusal}: agent ${message.agentId}${message.requestId ? `, request ${message.requestId}` : ''}`,
    });
    return true;
  },
});

export type RefusedMessages = ReturnType<typeof makeRefusedMessages>;
