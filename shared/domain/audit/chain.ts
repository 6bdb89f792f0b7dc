import { createHash } from 'node:crypto';
import { canonicalJson } from '#shared/protocol/canonical-json.ts';

export type AuditOutcome = 'succeeded' | 'refused';

export type AuditEntry = {
  action: string;
  actor: { userId: string; tokenId: string } | null;
  target?: { type: string; id: string };
  outcome: AuditOutcome;
  reason?: string;
};

export type AuditEvent = AuditEntry & {
  accountId: string;
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
};

export const GENESIS_HASH = '0'.repeat(64);

/** Every field but the hash itself is covered, the previous hash included: that makes the chain. */
export const hashEvent = (event: Omit<AuditEvent, 'hash'>): string => {
  const { accountId, seq, at, action, actor, target, outcome, reason, prevHash } = event;
  return createHash('sha256')
    .update(canonicalJson({ accountId, seq, at, action, actor, target, outcome, reason, prevHash }))
    .digest('hex');
};

export const nextEvent = (accountId: string, head: AuditEvent | undefined, entry: AuditEntry, at: string): AuditEvent => {
  const unhashed = { ...entry, accountId, seq: (head?.seq ?? 0) + 1, at, prevHash: head?.hash ?? GENESIS_HASH };
  return { ...unhashed, hash: hashEvent(unhashed) };
};

export type ChainVerification = { valid: boolean; checked: number; firstBrokenSeq?: number; problem?: string };

/**
 * Checks events in sequence order: each must be numbered one after the last, carry the hash of
 * the one before, and hash to what it says. An edited event fails its own hash; a removed one
 * leaves a gap; a rewritten tail breaks the link from the event after it.
 */
export const verifyChain = (events: Iterable<AuditEvent>, start?: { seq: number; hash: string }): ChainVerification => {
  let expectedSeq = (start?.seq ?? 0) + 1;
  let prevHash = start?.hash ?? GENESIS_HASH;
  let checked = 0;
  for (const event of events) {
    const broken = (problem: string): ChainVerification => ({ valid: false, checked, firstBrokenSeq: expectedSeq, problem });
    if (event.seq !== expectedSeq) return broken(`event ${expectedSeq} is missing (found ${event.seq})`);
    if (event.prevHash !== prevHash) return broken(`event ${event.seq} does not link to the event before it`);
    if (hashEvent(event) !== event.hash) return broken(`event ${event.seq} was changed after it was written`);
    prevHash = event.hash;
    expectedSeq += 1;
    checked += 1;
  }
  return { valid: true, checked };
};
