import type { AuditLog } from '#shared/ports/audit-log.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import { nextEvent, verifyChain, type AuditEntry, type AuditEvent, type ChainVerification } from './chain.ts';

const MAX_APPEND_ATTEMPTS = 20;

export const makeAuditTrail = ({ log, clock }: { log: AuditLog; clock: Clock }) => {
  /**
   * Appends without a transaction: read the head, write head+1 only if that number is free,
   * and on a lost race read the new head and try again. Two writers can never both hold a
   * number, so the chain never forks.
   */
  const append = async (accountId: string, entry: AuditEntry): Promise<AuditEvent> => {
    for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt += 1) {
      const event = nextEvent(accountId, await log.head(accountId), entry, clock.now().toISOString());
      if (await log.putIfFree(event)) return event;
    }
    throw new Error(`Could not append to the audit log of ${accountId}: too much contention`);
  };

  /**
   * Appends the entry the first time `key` is seen (an SQS message id: a redelivery audits
   * nothing new). The key is claimed before the append and given back if the append throws,
   * so the retry that follows still audits; only a process killed between the two loses it.
   */
  const appendOnce = async (accountId: string, key: string, entry: AuditEntry): Promise<AuditEvent | undefined> => {
    if (!(await log.claim(accountId, key))) return undefined;
    try {
      return await append(accountId, entry);
    } catch (error) {
      await log.release(accountId, key);
      throw error;
    }
  };

  const verify = async (accountId: string): Promise<ChainVerification> => {
    let checked = 0;
    let last: { seq: number; hash: string } | undefined;
    let cursor: string | undefined;
    do {
      const page = await log.page(accountId, { limit: 100, cursor });
      const result = verifyChain(page.items, last);
      if (!result.valid) return { ...result, checked: checked + result.checked };
      checked += result.checked;
      const tail = page.items.at(-1);
      if (tail) last = { seq: tail.seq, hash: tail.hash };
      cursor = page.nextCursor;
    } while (cursor);
    return { valid: true, checked };
  };

  const list = (accountId: string, request: PageRequest) => log.page(accountId, request);

  return { append, appendOnce, verify, list };
};

export type AuditTrail = ReturnType<typeof makeAuditTrail>;
