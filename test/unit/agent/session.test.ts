import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { verifySessionChallenge } from '#shared/protocol/trust.ts';
import type { AgentApi, Session } from '#agent/api.ts';
import { openJournal } from '#agent/journal.ts';
import { createSessionSource } from '#agent/session.ts';
import { memoryLog, newId, tempDir } from './fixtures.ts';

describe('agent session', () => {
  const fakeApi = (lifetimeMs: number, now: () => number, agentIdOverride?: string) => {
    const calls: { at: string; signature: string }[] = [];
    const api: Pick<AgentApi, 'session'> = {
      session: async (agentId, input) => {
        calls.push(input as { at: string; signature: string });
        const session: Session = {
          agentId: agentIdOverride ?? agentId,
          region: 'eu-west-1',
          queueUrl: 'q',
          replyQueueUrl: 'r',
          credentials: { accessKeyId: `AK${calls.length}`, secretAccessKey: 's', expiration: new Date(now() + lifetimeMs).toISOString() },
          heartbeatSeconds: 60,
        };
        return session;
      },
    };
    return { api, calls };
  };

  it('signs a fresh challenge, reuses the session, and renews it before it expires', async () => {
    let clock = Date.parse('2030-01-01T00:00:00Z');
    const now = () => clock;
    const key = generateRawKeyPair('ed25519');
    const agentId = newId('agt');
    const { api, calls } = fakeApi(3_600_000, now);
    const sessions = createSessionSource({ api, agentId, signingSeed: key.privateKey, log: memoryLog(), now });

    const [a, b] = await Promise.all([sessions.current(), sessions.current()]);
    expect(calls).toHaveLength(1); // concurrent callers share one session
    expect(a).toBe(b);
    expect(verifySessionChallenge(key.publicKey, agentId, calls[0]!.at, calls[0]!.signature)).toBe(true);

    clock += 54 * 60_000; // 6 minutes left: still more than the 5-minute margin
    expect((await sessions.current()).credentials.accessKeyId).toBe('AK1');
    clock += 2 * 60_000; // 4 minutes left: renew
    expect((await sessions.current()).credentials.accessKeyId).toBe('AK2');
  });

  it('refuses a session the backend opened for another agent', async () => {
    const { api } = fakeApi(3_600_000, Date.now, newId('agt'));
    const sessions = createSessionSource({ api, agentId: newId('agt'), signingSeed: generateRawKeyPair('ed25519').privateKey, log: memoryLog() });

    await expect(sessions.current()).rejects.toThrow(/not for/);
  });
});

describe('request journal', () => {
  it('survives a crash in the middle of an append', async () => {
    const path = join(await tempDir(), 'journal.jsonl');
    const log = memoryLog();
    const journal = await openJournal(path, { log });
    const requestId = newId('req');
    await journal.record({ requestId, type: 'share-master-key', digest: 'd', at: new Date().toISOString(), outcome: 'succeeded', result: { version: 1 } });
    await journal.close();
    await appendFile(path, '{"requestId":"req_');

    const reopened = await openJournal(path, { log });

    expect(reopened.get(requestId)).toMatchObject({ outcome: 'succeeded', result: { version: 1 } });
    expect(log.lines.some((line) => line.includes('journal line skipped'))).toBe(true);
    await reopened.close();
  });
});
