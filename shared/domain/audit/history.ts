import { verifyChain, type AuditEvent } from './chain.ts';

/** An event of the chain, named by its sequence number and hash: the chain up to it is fixed by that hash. */
export type Head = { seq: number; hash: string };

/** A head seen on an earlier check, and when. */
export type RememberedHead = Head & { seenAt: string };

export type HistoryVerdict =
  | { status: 'intact'; checked: number; head?: Head }
  | { status: 'broken'; checked: number; head?: Head; firstBrokenSeq: number; problem: string }
  | { status: 'rewritten'; checked: number; head?: Head; problem: string };

/**
 * Checks an account's whole audit log, page by page, oldest first, where it is read (the CLI),
 * so the verdict is never the backend's: the chain must link from the first event to the last
 * (chain.ts), and it must still hold the head seen last time, unchanged.
 *
 * The second check is what catches a backend that rewrote history and recomputed every hash
 * after it: such a chain verifies, but the event at the remembered sequence number no longer
 * has the remembered hash (any deletion, edit or reorder at or before it changes that hash), or
 * the chain no longer reaches it (events were cut off). What was appended after the remembered
 * head cannot be judged this way: it is new history.
 */
export const checkHistory = (remembered?: Head) => {
  let head: Head | undefined;
  let checked = 0;
  let broken: { firstBrokenSeq: number; problem: string } | undefined;
  let rewritten: string | undefined;

  return {
    /** The next events, oldest first. False once the chain broke: reading on would tell nothing more. */
    add(events: readonly AuditEvent[]): boolean {
      if (broken) return false;
      const result = verifyChain(events, head);
      checked += result.checked;
      // Only the events that verified count: after a break, the remembered head cannot be judged.
      for (const event of events.slice(0, result.checked)) {
        if (remembered && event.seq === remembered.seq && event.hash !== remembered.hash) {
          rewritten = `event ${event.seq} is not the one seen before (its hash was ${remembered.hash}, it is ${event.hash} now): the history up to it was rewritten`;
        }
        head = { seq: event.seq, hash: event.hash };
      }
      if (!result.valid) broken = { firstBrokenSeq: result.firstBrokenSeq!, problem: result.problem! };
      return !broken;
    },

    verdict(): HistoryVerdict {
      const at = { checked, ...(head ? { head } : {}) };
      if (rewritten) return { status: 'rewritten', ...at, problem: rewritten };
      if (broken) return { status: 'broken', ...at, ...broken };
      if (remembered && (head?.seq ?? 0) < remembered.seq) {
        const ends = head ? `ends at event ${head.seq}` : 'is empty';
        return { status: 'rewritten', ...at, problem: `the log ${ends}, but event ${remembered.seq} was seen before: events were removed` };
      }
      return { status: 'intact', ...at };
    },
  };
};

/** The whole check at once, for a log already in memory. */
export const verifyHistory = (events: readonly AuditEvent[], remembered?: Head): HistoryVerdict => {
  const check = checkHistory(remembered);
  check.add(events);
  return check.verdict();
};
