import { Samples } from './stats.ts';

export type ApiResponse = { status: number; body: any; ms: number };
export type Call = (method: string, path: string, json?: unknown) => Promise<ApiResponse>;

/**
 * A client of the HTTP API that times every request and files it under its route (`POST
 * /deployments/{id}/approve`), so the benchmarks report per route; 5xx answers are kept apart.
 */
export const apiClient = (baseUrl: string) => {
  const latency = new Samples();
  const serverErrors: string[] = [];
  let requests = 0;

  // Ids are `<3 letters>_<32 hex>` (shared/protocol/common.ts): each becomes {id}, as in the route table.
  const routeOf = (method: string, path: string) => `${method} ${path.split('?')[0]!.replace(/\/[a-z]{3}_[0-9a-f]{32}/g, '/{id}')}`;

  const as =
    (token?: string): Call =>
    async (method, path, json) => {
      const started = performance.now();
      const response = await fetch(baseUrl + path, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      });
      const text = await response.text();
      const elapsed = performance.now() - started;
      requests += 1;
      const route = routeOf(method, path);
      latency.add(route, elapsed);
      if (response.status >= 500) serverErrors.push(`${route} -> ${response.status}`);
      return { status: response.status, body: text && (response.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text, ms: elapsed };
    };

  return { as, latency, serverErrors, requests: () => requests };
};

export type ApiClient = ReturnType<typeof apiClient>;

/** The body of an expected answer, or an error naming what was asked and what came back. */
export const expectStatus = (response: ApiResponse, status: number, what: string): any => {
  if (response.status !== status) throw new Error(`${what}: expected ${status}, got ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
};
