import type { FunctionName } from '../catalog.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type Route = {
  method: HttpMethod;
  /** API Gateway path syntax: `{id}` is a path parameter. */
  path: string;
  function: FunctionName;
};

/** The one route table: CDK makes API Gateway routes of it, the local server serves it. */
export const routes = [
  { method: 'GET', path: '/health', function: 'health' },
  { method: 'POST', path: '/accounts', function: 'create-account' },
] as const satisfies readonly Route[];
