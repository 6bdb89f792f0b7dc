import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nextEvent, verifyChain, type AuditEntry, type AuditEvent } from '#shared/domain/audit/chain.ts';

const entry: fc.Arbitrary<AuditEntry> = fc.record({
  action: fc.constantFrom('apps:create', 'users:create', 'tokens:revoke'),
  actor: fc.option(fc.record({ userId: fc.string(), tokenId: fc.string() }), { nil: null }),
  outcome: fc.constantFrom('succeeded' as const, 'refused' as const),
});

const chainOf = (entries: AuditEntry[]): AuditEvent[] =>
  entries.reduce<AuditEvent[]>((events, e, i) => [...events, nextEvent('acc_x', events.at(-1), e, new Date(i * 1000).toISOString())], []);

describe('audit hash chain (property-based)', () => {
  it('an untouched chain verifies, whatever its entries', () => {
    fc.assert(fc.property(fc.array(entry, { maxLength: 30 }), (entries) => {
      expect(verifyChain(chainOf(entries))).toEqual({ valid: true, checked: entries.length });
    }));
  });

  it('any change to any field of any event is caught at that event', () => {
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 20 }),
        fc.nat(),
        fc.constantFrom('action', 'outcome', 'at', 'reason', 'actor'),
        (entries, pick, field) => {
          const events = chainOf(entries);
          const index = pick % events.length;
          const victim = events[index]!;
          const tampered: AuditEvent = { ...victim, [field]: field === 'actor' ? { userId: 'mallory', tokenId: 't' } : `${String(victim[field as keyof AuditEvent])}!` };
          events[index] = tampered;
          const result = verifyChain(events);
          expect(result.valid).toBe(false);
          expect(result.firstBrokenSeq).toBe(index + 1);
        },
      ),
    );
  });

  it('a removed, reordered or rehashed event breaks the chain', () => {
    fc.assert(
      fc.property(fc.array(entry, { minLength: 3, maxLength: 20 }), fc.nat(), (entries, pick) => {
        const events = chainOf(entries);
        const index = 1 + (pick % (events.length - 2));
        expect(verifyChain(events.filter((_e, i) => i !== index)).firstBrokenSeq).toBe(index + 1);
        const swapped = [...events];
        [swapped[index], swapped[index + 1]] = [swapped[index + 1]!, swapped[index]!];
        expect(verifyChain(swapped).valid).toBe(false);
        // Rewriting one event and recomputing its own hash still breaks the link after it.
        const forged = nextEvent('acc_x', events[index - 1], { action: 'forged', actor: null, outcome: 'succeeded' }, events[index]!.at);
        const rewritten = [...events];
        rewritten[index] = forged;
        expect(verifyChain(rewritten).firstBrokenSeq).toBe(index + 2);
      }),
    );
  });
});
