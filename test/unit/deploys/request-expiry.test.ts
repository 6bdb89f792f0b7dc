import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { targetHandlers } from '#agent/handlers/target.ts';
import { RequestRefused } from '#agent/handlers/types.ts';
import { runAgent } from '#agent/program.ts';
import { CLOCK_SKEW_MS, requestExpired } from '#agent/target/request-expiry.ts';
import type { AgentRequest } from '#shared/protocol/agent-messages.ts';
import { evidenceFixture } from '../evidence/fixture.ts';
import { memoryLog, newId, tempDir } from '../agent/fixtures.ts';

const expiresAt = '2026-11-30T12:01:00.000Z';
const at = (iso: string, plusMs = 0) => Date.parse(iso) + plusMs;

describe('requestExpired: the backend no longer waits for the request', () => {
  it('is good until its expiry plus the clock skew, and refused after', () => {
    expect(requestExpired(expiresAt, at('2026-11-30T12:00:00.000Z'))).toBe(false);
    expect(requestExpired(expiresAt, at(expiresAt))).toBe(false);
    expect(requestExpired(expiresAt, at(expiresAt, CLOCK_SKEW_MS))).toBe(false);
    expect(requestExpired(expiresAt, at(expiresAt, CLOCK_SKEW_MS + 1))).toBe(true);
  });

  it('takes a shorter skew where a test gives one (run --clock-skew), which only it may shorten', async () => {
    expect(requestExpired(expiresAt, at(expiresAt, 2000), 2000)).toBe(false);
    expect(requestExpired(expiresAt, at(expiresAt, 2001), 2000)).toBe(true);
    const err: string[] = [];
    const deps = { stdout: () => {}, stderr: (t: string) => void err.push(t), env: {}, fetch: globalThis.fetch, signal: new AbortController().signal };
    expect(await runAgent(['run', '--state', await tempDir(), '--clock-skew', String(CLOCK_SKEW_MS / 1000 + 1)], deps)).toBe(2);
    expect(err.join('')).toContain(`must be at most ${CLOCK_SKEW_MS / 1000}`);
    const help: string[] = [];
    await runAgent(['run', '--help'], { ...deps, stdout: (t: string) => void help.push(t) });
    expect(help.join('')).toContain('--script-timeout');
    expect(help.join('')).not.toContain('--clock-skew');
  });
});

describe('a target handed an expired deploy-release request', () => {
  it('refuses it with RequestExpired before downloading or recording anything, and logs the ids for audit', async () => {
    const stateDir = await tempDir();
    const environmentId = newId('env');
    const log = memoryLog();
    const isolation = { user: { name: 'r', uid: 1, gid: 1, home: '/' }, releasesDir: '/nonexistent', setpriv: '/usr/bin/setpriv' };
    const handler = targetHandlers({ stateDir, environments: [environmentId], isolation, releasesOrigin: async () => undefined, now: () => at(expiresAt, CLOCK_SKEW_MS + 1000) })['deploy-release']!;
    const request = {
      type: 'deploy-release',
      requestId: newId('req'),
      accountId: newId('acc'),
      sentAt: '2026-11-30T12:00:00.000Z',
      deploymentId: newId('dep'),
      appId: newId('app'),
      releaseId: newId('rel'),
      environmentId,
      appName: 'site',
      releaseVersion: '2.0.0',
      environmentName: 'web',
      // Nothing listens here: a download would fail with another error than the refusal.
      url: 'http://127.0.0.1:9/release',
      digest: 'a'.repeat(64),
      manifest: 'm'.repeat(64),
      // Never looked at: expiry is refused first.
      evidence: evidenceFixture().evidence(),
      expiresAt,
    } as Extract<AgentRequest, { type: 'deploy-release' }>;

    const refused = await handler(request, { log } as never).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RequestRefused);
    expect((refused as RequestRefused).code).toBe('RequestExpired');
    // No staging, no grant recorded as used: nothing of the request reached the disk.
    expect(await readdir(stateDir)).toEqual([]);
    expect(log.lines.join('\n')).toContain('expired deployment request refused');
    expect(log.lines.join('\n')).toContain(request.requestId);
  });
});
