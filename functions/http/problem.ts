import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { DomainError } from '#shared/domain/errors.ts';

export const PROBLEM_BASE = 'https://latchkey.dev/problems/';

export type Problem = { type: string; title: string; status: number; field?: string; detail?: string };

/** The one mapping from errors to HTTP: a 4xx keeps its message, a 5xx says nothing internal. */
export const problemFor = (error: unknown): Problem => {
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
  headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
  body: JSON.stringify(problem),
});
