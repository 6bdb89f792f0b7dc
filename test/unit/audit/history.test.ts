import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nextEvent, type AuditEntry, type AuditEvent } from '#shared/domain/audit/chain.ts';
import { checkHistory, verifyHistory, type Head } from '#shared/domain/audit/history.ts';

const entry: fc.Arbitrary<AuditEntry> = fc.record({
  action: fc.constantFrom('apps:create', 'users:create', 'tokens:revoke', 'deployments:finish'),
  actor: fc.option(fc.record({ userId: fc.string(), tokenId: fc.string() }), { nil: null }),
  outcome: fc.constantFrom('succeeded' as const, 'refused' as const),
  reason: fc.option(fc.string(), { nil: undefined }),
});

/** What a compromised backend does after changing the entries: number and hash the whole chain again, so it verifies. */
const chainOf = (entries: readonly AuditEntry[]): AuditEvent[] =>
  entries.reduce<AuditEvent[]>((events, e, i) => [...events, nextEvent('acc_x', events.at(-1), e, new Date(i * 1000).toISOString())], []);
const entriesOf = (events: readonly AuditEvent[]): AuditEntry[] => events.map(({ action, actor, target, outcome, reason }) => ({ action, actor, outcome, ...(target ? { target } : {}), ...(reason === undefined ? {} : { reason }) }));
const headOf = (event: AuditEvent): Head => ({ seq: event.seq, hash: event.hash });

/** A log with a head seen on an earlier check: `seen` events, then `more` written since. */
const history = fc.record({ seen: fc.array(entry, { minLength: 1, maxLength: 15 }), more: fc.array(entry, { maxLength: 10 }) });

/** The ways a backend can rewrite what was seen, each followed by a full recompute. */
type Rewrite = { kind: 'delete' | 'edit' | 'reorder' | 'insert' | 'truncate'; at: number };
const rewrite = fc.record({ kind: fc.constantFrom<Rewrite['kind']>('delete', 'edit', 'reorder', 'insert', 'truncate'), at: fc.nat() });
const applyRewrite = (entries: AuditEntry[], seenCount: number, { kind, at }: Rewrite): AuditEntry[] | undefined => {
  const i = at % seenCount;
  const out = [...entries];
  switch (kind) {
    case 'delete':
      out.splice(i, 1);
      return out;
    case 'edit':
      out[i] = { ...out[i]!, reason: `${out[i]!.reason ?? ''}, edited` };
      return out;
    case 'reorder': {
      // Swap with a neighbour that differs; two identical entries swapped change nothing.
      const j = i + 1 < out.length ? i + 1 : i - 1;
      if (j < 0 || JSON.stringify(out[i]) === JSON.stringify(out[j])) return undefined;
      [out[i], out[j]] = [out[j]!, out[i]!];
      return out;
    }
    case 'insert':
      out.splice(i, 0, { action: 'forged', actor: null, outcome: 'succeeded' });
      return out;
    case 'truncate':
      return out.slice(0, i);
  }
};

describe('audit history checked against the head seen before (property-based)', () => {
  it('an untouched log verifies, also after new events were appended, and its head is the last event', () => {
    fc.assert(
      fc.property(history, ({ seen, more }) => {
        const events = chainOf([...seen, ...more]);
        const remembered = headOf(events[seen.length - 1]!);
        expect(verifyHistory(events, remembered)).toEqual({ status: 'intact', checked: events.length, head: headOf(events.at(-1)!) });
      }),
    );
  });

  it('any deletion, edit, reorder, insertion or truncation at or before the remembered head is reported, even with every hash recomputed', () => {
    fc.assert(
      fc.property(history, rewrite, ({ seen, more }, change) => {
        const events = chainOf([...seen, ...more]);
        const remembered = headOf(events[seen.length - 1]!);
        const changed = applyRewrite(entriesOf(events), seen.length, change);
        fc.pre(changed !== undefined);
        const forged = chainOf(changed!);
        // The backend's own check (the chain alone) is satisfied: that is the attack.
        expect(verifyHistory(forged).status).toBe('intact');
        const verdict = verifyHistory(forged, remembered);
        expect(verdict.status).toBe('rewritten');
        expect((verdict as { problem: string }).problem).toMatch(/was rewritten|were removed/);
      }),
    );
  });

  it('a change that is not recomputed is a broken chain, named at the first bad event', () => {
    fc.assert(
      fc.property(history, fc.nat(), ({ seen, more }, pick) => {
        const events = chainOf([...seen, ...more]);
        const i = pick % events.length;
        const tampered = events.map((e, j) => (j === i ? { ...e, action: `${e.action}!` } : e));
        expect(verifyHistory(tampered, headOf(events[seen.length - 1]!))).toMatchObject({ status: 'broken', firstBrokenSeq: i + 1, checked: i });
      }),
    );
  });

  it('page by page gives the same verdict as all at once, and stops reading at a break', () => {
    fc.assert(
      fc.property(history, fc.integer({ min: 1, max: 5 }), fc.boolean(), ({ seen, more }, size, tamper) => {
        const events = chainOf([...seen, ...more]);
        if (tamper) events[0] = { ...events[0]!, outcome: events[0]!.outcome === 'succeeded' ? 'refused' : 'succeeded' };
        const remembered = headOf(chainOf([...seen, ...more])[seen.length - 1]!);
        const check = checkHistory(remembered);
        let pages = 0;
        for (let i = 0; i < events.length; i += size) {
          pages += 1;
          if (!check.add(events.slice(i, i + size))) break;
        }
        expect(check.verdict()).toEqual(verifyHistory(events, remembered));
        if (tamper) expect(pages).toBe(1);
      }),
    );
  });

  it('names what happened: an empty log, a shorter one, another event at the head seen', () => {
    const events = chainOf([{ action: 'a', actor: null, outcome: 'succeeded' }, { action: 'b', actor: null, outcome: 'succeeded' }]);
    const seen = headOf(events[1]!);
    expect(verifyHistory([], seen)).toEqual({ status: 'rewritten', checked: 0, problem: 'the log is empty, but event 2 was seen before: events were removed' });
    expect(verifyHistory(events.slice(0, 1), seen)).toMatchObject({ status: 'rewritten', checked: 1, head: headOf(events[0]!), problem: 'the log ends at event 1, but event 2 was seen before: events were removed' });
    const other = chainOf([{ action: 'a', actor: null, outcome: 'succeeded' }, { action: 'c', actor: null, outcome: 'succeeded' }]);
    expect(verifyHistory(other, seen)).toMatchObject({ status: 'rewritten', problem: `event 2 is not the one seen before (its hash was ${seen.hash}, it is ${other[1]!.hash} now): the history up to it was rewritten` });
    expect(verifyHistory([])).toEqual({ status: 'intact', checked: 0 });
  });
});
