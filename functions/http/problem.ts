import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { DomainError } from '#shared/domain/errors.ts';

export const PROBLEM_BASE = 'https://latchkey.dev/problems/';

export type Problem = { type: string; title: string; status: number; field?: string; detail?: string };

/**
 * The function ran out of time before it could answer: thrown by middy just before Lambda's own
 * timeout, so the client gets a 503 it can act on instead of a bare 500 from the runtime.
 */
export class HandlerTimeoutError extends Error {
  constructor() {
    super('The handler ran out of time');
    this.name = 'HandlerTimeoutError';
  }
}

/** Seconds a client should wait before trying a 503 again. */
export const RETRY_AFTER_SECONDS = 5;

/** The one mapping from errors to HTTP: a 4xx keeps its message, a 5xx says nothing internal. */
export const problemFor = (error: unknown): Problem => {
  if (error instanceof HandlerTimeoutError) {
    // The work may have been done (or may still be) even though no answer came in time.
    return {
      type: PROBLEM_BASE + 'busy',
      title: 'The service was too busy to answer in time; the request may still have taken effect, so read it back before retrying',
      status: 503,
    };
  }
  if (error instanceof DomainError) {
    return {
      type: PROBLEM_BASE + error.type,
      title: error.message,
      status: error.status,
      ...(error.field === undefined ? {} : { field: error.field }),
    };
  }
  return { type: PROBLEM_BASE + 'internal-error', title: 'Internal error', status: 500 };
};

export const problemResponse = (problem: Problem): APIGatewayProxyStructuredResultV2 => ({
  statusCode: problem.status,
  headers: {
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
    ...(problem.status === 503 ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : {}),
  },
  body: JSON.stringify(problem),
});
