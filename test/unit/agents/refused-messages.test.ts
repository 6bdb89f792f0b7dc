import { describe, expect, it } from 'vitest';
import type { Agent } from '#shared/domain/agents/model.ts';
import { idsOf, makeRefusedMessages } from '#shared/domain/agents/refused-messages.ts';
import type { AuditEntry } from '#shared/domain/audit/chain.ts';

const accountId = `acc_${'1'.repeat(32)}`;
const agentId = `agt_${'2'.repeat(32)}`;
const requestId = `req_${'3'.repeat(32)}`;

const refusals = (onRecord: Partial<Agent>[]) => {
  const appended: { accountId: string; entry: AuditEntry }[] = [];
  const claimed = new Set<string>();
  const refused = makeRefusedMessages({
    agents: { getAgent: async (acc, agt) => onRecord.find((a) => a.accountId === acc && a.agentId === agt) as Agent | undefined },
    audit: {
      appendOnce: async (acc, key, entry) => {
        if (claimed.has(`${acc} ${key}`)) return undefined;
        claimed.add(`${acc} ${key}`);
        appended.push({ accountId: acc, entry });
        return { ...entry, accountId: acc, seq: appended.length, at: '', prevHash: '', hash: '' };
      },
    },
  });
  return { refused, appended };
};

describe('refused agent messages', () => {
  it('are audited in the account whose agent they name, removed agents included, by ids only', async () => {
    const { refused, appended } = refusals([{ accountId, agentId, removedAt: '2026-01-01T00:00:00.000Z' }]);
    expect(await refused.refuse({ messageId: 'm-1', accountId, agentId, requestId }, 'BadSignature')).toBe(true);
    expect(appended).toEqual([
      {
        accountId,
        entry: {
          action: 'agents:message-refused',
          actor: null,
          target: { type: 'agent-message', id: 'm-1' },
          outcome: 'refused',
          reason: `BadSignature: agent ${agentId}, request ${requestId}`,
        },
      },
    ]);
  });

  it('are audited once per queue message id, however often it is delivered', async () => {
    const { refused, appended } = refusals([{ accountId, agentId }]);
    for (const messageId of ['m-1', 'm-1', 'm-2', 'm-1']) expect(await refused.refuse({ messageId, accountId, agentId }, 'BadSignature')).toBe(true);
    expect(appended.map((a) => a.entry.target)).toEqual([
      { type: 'agent-message', id: 'm-1' },
      { type: 'agent-message', id: 'm-2' },
    ]);
  });

  it('are not audited anywhere when they name no agent on record in that account', async () => {
    const { refused, appended } = refusals([{ accountId: `acc_${'9'.repeat(32)}`, agentId }]);
    expect(await refused.refuse({ messageId: 'm-2', accountId, agentId }, 'UnknownAgent')).toBe(false);
    expect(await refused.refuse({ messageId: 'm-3' }, 'NotJson')).toBe(false);
    expect(await refused.refuse({ messageId: 'm-4', accountId }, 'Malformed')).toBe(false);
    expect(appended).toEqual([]);
  });

  it('keep from a malformed message only the fields that are well-formed ids', () => {
    expect(idsOf({ accountId, agentId, requestId, signature: 'x', result: { secret: 'y' } })).toEqual({ accountId, agentId, requestId });
    expect(idsOf({ accountId: `${accountId} and more`, agentId: 42, requestId: 'req_short' })).toEqual({});
    for (const notAnObject of [null, 'text', 7, [accountId]]) expect(idsOf(notAnObject)).toEqual({});
  });
});
