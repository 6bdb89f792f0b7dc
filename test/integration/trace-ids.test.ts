import { readFile } from 'node:fs/promises';
import { describe, expect, inject, it } from 'vitest';
import { newAccount } from '../support/accounts.ts';
import { waitFor } from '../support/clients.ts';

/**
 * Issue 18: no X-Ray SDK in the functions; Lambda's active tracing gives each invocation a trace
 * header (_X_AMZN_TRACE_ID, which the local stack sets as Lambda does), and every log line of the
 * invocation carries its trace id, which is how a log line and its trace are found together.
 */
describe('log lines carry the trace id of their invocation', () => {
  it('a request’s log lines name its function and a trace id in X-Ray’s format, one per invocation', async () => {
    // Act: a refused request logs (at DEBUG, the suite's level) in its function.
    const a = await newAccount();
    await a.deployer.call('POST', '/users', { name: 'Eve', email: 'eve@example.com', role: 'owner' });

    // Assess
    const lines = await waitFor('log lines of create-user', async () => {
      const found = (await readFile(inject('stackLogPath'), 'utf8'))
        .split('\n')
        .filter((line) => line.startsWith('{') && line.includes('"function_name":"latchkey-create-user"'))
        .map((line) => JSON.parse(line) as { xray_trace_id?: string; function_request_id?: string });
      return found.length ? found : undefined;
    });
    for (const line of lines) expect(line.xray_trace_id).toMatch(/^1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    const traceByRequest = new Map(lines.map((line) => [line.function_request_id, line.xray_trace_id]));
    expect(new Set(traceByRequest.values()).size).toBe(traceByRequest.size);
  });
});
