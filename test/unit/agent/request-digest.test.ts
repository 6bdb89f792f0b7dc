import { describe, expect, it } from 'vitest';
import { requestDigest } from '#agent/requests.ts';
import type { AgentRequest } from '#shared/protocol/agent-messages.ts';

// Only the fields the digest reads matter here; the schema is checked where requests are parsed.
const deployRequest = (overrides: Record<string, unknown> = {}) =>
  ({
    requestId: `req_${'a'.repeat(32)}`,
    accountId: `acc_${'b'.repeat(32)}`,
    type: 'deploy-release',
    sentAt: '2026-11-30T10:00:00.000Z',
    taskToken: 'token-1',
    url: 'http://127.0.0.1:4002/releases/object?X-Amz-Signature=one',
    digest: 'c'.repeat(64),
    ...overrides,
  }) as unknown as AgentRequest;

describe('requestDigest: what "the same request" means for a reused request id', () => {
  it('ignores delivery details: task token, send time and a re-presigned download URL', () => {
    const first = requestDigest(deployRequest());
    const resent = requestDigest(deployRequest({ taskToken: 'token-2', sentAt: '2026-11-30T10:05:00.000Z', url: 'http://127.0.0.1:5002/releases/object?X-Amz-Signature=two' }));
    expect(resent).toBe(first);
  });

  it('changes with what the request pins', () => {
    expect(requestDigest(deployRequest({ digest: 'd'.repeat(64) }))).not.toBe(requestDigest(deployRequest()));
  });
});
