import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HEARTBEAT_SKEW_SECONDS, isOnline, judgeHeartbeat } from '#shared/domain/agents/liveness.ts';

const at = (ms: number) => new Date(ms).toISOString();
const T = Date.parse('2026-12-07T10:00:00.000Z');

describe('liveness on the backend clock', () => {
  it('online only while the last heartbeat the backend received is within the window, and never once removed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 600_000 }), fc.integer({ min: 1, max: 300 }), fc.boolean(), (age, window, removed) => {
        const agent = { lastSeenAt: at(T - age), ...(removed ? { removedAt: at(T) } : {}) };
        expect(isOnline(agent, new Date(T), window)).toBe(!removed && age <= window * 1000);
      }),
    );
    expect(isOnline({}, new Date(T), 30)).toBe(false);
  });

  it('a key server found unresponsive (it did not take a request in time) is offline until a heartbeat newer than that', () => {
    const seen = at(T - 1000);
    expect(isOnline({ lastSeenAt: seen, unresponsiveSince: at(T - 500) }, new Date(T), 30)).toBe(false);
    expect(isOnline({ lastSeenAt: at(T - 100), unresponsiveSince: at(T - 500) }, new Date(T), 30)).toBe(true);
    expect(isOnline({ lastSeenAt: seen, unresponsiveSince: seen }, new Date(T), 30)).toBe(false);
  });

  it('counts a heartbeat only if its own time is near the receipt time and newer than the last one counted', () => {
    fc.assert(
      fc.property(fc.integer({ min: -600_000, max: 600_000 }), fc.option(fc.integer({ min: -600_000, max: 600_000 })), (offset, lastOffset) => {
        const claimed = at(T + offset);
        const last = lastOffset === null ? undefined : at(T + lastOffset);
        const verdict = judgeHeartbeat(claimed, new Date(T), last);
        const fresh = Math.abs(offset) <= HEARTBEAT_SKEW_SECONDS * 1000;
        const newer = lastOffset === null || offset > lastOffset;
        expect(verdict.accept).toBe(fresh && newer);
        if (!fresh) expect(verdict).toEqual({ accept: false, reason: 'Stale' });
      }),
    );
  });

  it('an agent claiming a time far in the future is not kept online by it (the attack of the old rule)', () => {
    expect(judgeHeartbeat(at(T + 3600_000 * 24 * 365), new Date(T), undefined)).toEqual({ accept: false, reason: 'Stale' });
  });
});
