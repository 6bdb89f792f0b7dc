import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { httpHandler, TIMEOUT_MARGIN_MS } from '#functions/http/http-handler.ts';
import { RETRY_AFTER_SECONDS } from '#functions/http/problem.ts';

const event = { routeKey: 'GET /slow', headers: {}, requestContext: {} } as unknown as APIGatewayProxyEventV2;
const contextWith = (remainingMs: number): Context => {
  const deadline = Date.now() + remainingMs;
  return { awsRequestId: 'r', functionName: 'f', getRemainingTimeInMillis: () => deadline - Date.now() } as unknown as Context;
};

describe('httpHandler', () => {
  it('answers 503 problem+json with Retry-After just before the function would time out', async () => {
    // Prepare: a handler that never finishes, with 200 ms left beyond the margin.
    const handler = httpHandler(() => new Promise(() => {}));

    // Act
    const response = await handler(event, contextWith(TIMEOUT_MARGIN_MS + 200));

    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers).toMatchObject({ 'content-type': 'application/problem+json', 'retry-after': String(RETRY_AFTER_SECONDS) });
    expect(JSON.parse(response.body as string)).toMatchObject({ type: expect.stringMatching(/\/busy$/), status: 503 });
  });

  it('answers a handler that finishes in time as it is', async () => {
    const handler = httpHandler(async () => ({ statusCode: 200, body: 'ok' }));
    expect(await handler(event, contextWith(TIMEOUT_MARGIN_MS + 2_000))).toEqual({ statusCode: 200, body: 'ok' });
  });
});
