import type { AuditEvent } from '#shared/domain/audit/chain.ts';
import type { AuditLog } from '#shared/ports/audit-log.ts';

/**
 * The audit log in memory, with the DynamoDB adapter's conditions (functions/adapters/dynamo-audit-log.ts):
 * a sequence number or a claim is written only if free. `failNextPut` makes the next event write
 * throw, as a crash between a change and its audit event would.
 */
export const memoryAuditLog = () => {
  const events = new Map<string, AuditEvent[]>();
  const claims = new Set<string>();
  let failNext = false;
  const of = (accountId: string) => events.get(accountId) ?? [];
  const log: AuditLog = {
    head: async (accountId) => of(accountId).at(-1),
    putIfFree: async (event) => {
      if (failNext) {
        failNext = false;
        throw new Error('the audit write failed');
      }
      const list = of(event.accountId);
      if (list.some((e) => e.seq === event.seq)) return false;
      events.set(event.accountId, [...list, event].sort((a, b) => a.seq - b.seq));
      return true;
    },
    claim: async (accountId, key) => (claims.has(`${accountId}#${key}`) ? false : (claims.add(`${accountId}#${key}`), true)),
    release: async (accountId, key) => void claims.delete(`${accountId}#${key}`),
    page: async (accountId, request) => {
      const start = request.cursor ? Number(request.cursor) : 0;
      const items = of(accountId).slice(start, start + request.limit);
      const next = start + items.length;
      return { items, ...(next < of(accountId).length ? { nextCursor: String(next) } : {}) };
    },
  };
  return Object.assign(log, { events: (accountId: string) => of(accountId), failNextPut: () => void (failNext = true) });
};
