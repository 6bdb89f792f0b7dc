import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { nextEvent, type AuditEntry, type AuditEvent } from '#shared/domain/audit/chain.ts';
import { fakeApi, hex, runCli } from './fake-api.ts';

const accountId = `acc_${hex(1)}`;
const entry = (action: string): AuditEntry => ({ action, actor: null, outcome: 'succeeded' });
const chainOf = (actions: string[]): AuditEvent[] =>
  actions.reduce<AuditEvent[]>((events, action, i) => [...events, nextEvent(accountId, events.at(-1), entry(action), new Date(Date.UTC(2026, 11, 1, 0, 0, i)).toISOString())], []);

/**
 * The API as a compromised backend could run it: it serves whatever log `log()` holds, in pages
 * of `limit`, without the account id (as the real API does), and always says the chain is valid.
 */
const api = (log: () => AuditEvent[]) =>
  fakeApi({
    'GET /me': () => ({ body: { accountId, user: { userId: `usr_${hex(2)}`, role: 'owner', email: 'o@example.com', name: 'O' } } }),
    'GET /audit': ({ query }) => {
      const start = Number(query.cursor ?? 0);
      const items = log().slice(start, start + Number(query.limit)).map(({ accountId: _a, ...event }) => event);
      const next = start + items.length;
      return { body: { items, ...(next < log().length ? { nextCursor: String(next) } : {}) } };
    },
    'GET /audit/verify': () => ({ body: { valid: true, checked: log().length } }),
  });

/** One machine: the same config directory across runs, so the head it saw is remembered. */
const machine = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-audit-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const configPath = path.join(dir, 'config.json');
  return {
    headFile: path.join(dir, `audit-head.${accountId}.json`),
    verify: (server: ReturnType<typeof api>, json = false) => runCli(['audit', 'verify', ...(json ? ['--json'] : [])], server, { env: { LATCHKEY_CONFIG: configPath } }),
  };
};

describe('latchkey audit verify checks the log on this machine', () => {
  it('reads every page, recomputes the chain, shows the events and head checked, and remembers the head (0600); never asks the API for a verdict', async () => {
    const log = chainOf(Array.from({ length: 250 }, (_, i) => `action-${i}`));
    const server = api(() => log);
    const m = await machine();

    const result = await m.verify(server);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`The audit log is intact: 250 event(s) checked on this machine, linked from the first; the head is event 250, hash ${log[249]!.hash}.`);
    expect(result.stdout).toContain('This machine had not checked this account before');
    expect(server.calls()).toEqual(['GET /me', 'GET /audit', 'GET /audit', 'GET /audit']);
    expect(JSON.parse(await readFile(m.headFile, 'utf8'))).toMatchObject({ v: 1, accountId, seq: 250, hash: log[249]!.hash });
    expect((await stat(m.headFile)).mode & 0o777).toBe(0o600);
  });

  it('a broken chain exits 1 naming the first broken link, whatever the API says; the head is not moved', async () => {
    const log = chainOf(['a', 'b', 'c', 'd']);
    log[2] = { ...log[2]!, action: 'hidden' };
    const m = await machine();
    const result = await m.verify(api(() => log));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('The audit log is broken at event 3: event 3 was changed after it was written (2 event(s) checked on this machine)');
    await expect(stat(m.headFile)).rejects.toThrow(/ENOENT/);
  });

  it.each([
    // Each rewrite, and more events appended after it, as a backend hiding its tracks would.
    ['an event deleted', (log: AuditEvent[]) => [...log.filter((e) => e.seq !== 2), ...chainOf(['d', 'e'])], /event 3 is not the one seen before/],
    ['an event edited', (log: AuditEvent[]) => [...log.map((e) => (e.seq === 1 ? { ...e, action: 'something else' } : e)), ...chainOf(['d'])], /event 3 is not the one seen before/],
    ['two events swapped', (log: AuditEvent[]) => [log[1]!, log[0]!, ...log.slice(2)], /event 3 is not the one seen before/],
    ['the tail cut off', (log: AuditEvent[]) => log.slice(0, 2), /the log ends at event 2, but event 3 was seen before: events were removed/],
  ] as const)('a history rewritten behind the remembered head (%s, every hash recomputed) exits 1 and says so, though the chain verifies', async (_name, rewrite, why) => {
    let log = chainOf(['a', 'b', 'c']);
    const server = api(() => log);
    const m = await machine();
    expect((await m.verify(server)).code).toBe(0);
    const seen = JSON.parse(await readFile(m.headFile, 'utf8'));

    // The backend rewrites what was seen, then re-numbers and re-hashes it all.
    log = chainOf(rewrite(log).map((e) => e.action));
    const result = await m.verify(server);

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/The audit log was rewritten behind the head this machine saw on .* \(event 3\): /);
    expect(result.stderr).toMatch(why);
    expect(result.stderr).toContain(`delete ${m.headFile}`);
    // The head seen stays remembered: the next check reports the rewrite again.
    expect(JSON.parse(await readFile(m.headFile, 'utf8'))).toEqual(seen);
    expect((await m.verify(server)).code).toBe(1);
  });

  it('new events after the remembered head verify; --json shows the head checked and the one remembered', async () => {
    let log = chainOf(['a', 'b']);
    const server = api(() => log);
    const m = await machine();
    await m.verify(server);
    log = chainOf(['a', 'b', 'c']);

    const result = await m.verify(server, true);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      valid: true,
      rewritten: false,
      checked: 3,
      head: { seq: 3, hash: log[2]!.hash },
      remembered: { seq: 2, hash: log[1]!.hash, seenAt: expect.any(String) },
    });
    expect(JSON.parse(await readFile(m.headFile, 'utf8'))).toMatchObject({ seq: 3, hash: log[2]!.hash });
  });

  it('--json on a rewrite prints the verdict, then exits 1', async () => {
    let log = chainOf(['a', 'b']);
    const server = api(() => log);
    const m = await machine();
    await m.verify(server);
    log = chainOf(['b']);
    const result = await m.verify(server, true);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ valid: false, rewritten: true, checked: 1, head: { seq: 1 }, remembered: { seq: 2 }, problem: expect.stringContaining('event 2 was seen before') });
  });

  it('an answer that is not audit events, or an empty page promising more, cannot be checked: exit 1', async () => {
    const m = await machine();
    const junk = fakeApi({ 'GET /me': () => ({ body: { accountId } }), 'GET /audit': () => ({ body: { items: [{ seq: 'one' }] } }) });
    expect((await m.verify(junk)).stderr).toContain('not audit events');
    const endless = fakeApi({ 'GET /me': () => ({ body: { accountId } }), 'GET /audit': () => ({ body: { items: [], nextCursor: 'more' } }) });
    const result = await m.verify(endless);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('an empty page that promises more');
  });
});
