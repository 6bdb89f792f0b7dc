/**
 * `npm run bench:api`: p50/p99 latency of `POST /deployments`, `POST /deployments/{id}/approve`
 * and `GET /deployments/{id}` at 1, 8 and 32 concurrent clients, against a local stack in its own
 * process (loopback). Each run creates deployments, approves each once, then reads each; the
 * table shows the median over runs of each run's p50 and p99. `GET /health` (no data access) is
 * measured in the same runs as the reference: what the local API front and runtime cost alone.
 * Options: --runs N (3). Writes bench/reports/api-latency.md.
 */
import { parseArgs } from 'node:util';
import { apiClient, type ApiResponse } from './support/api-client.ts';
import { approvalFixture } from './support/fixture.ts';
import { isMain, machineLine, ms, publish, table, type BenchModule } from './support/report.ts';
import { startStackProcess } from './support/stack-process.ts';
import { latencyOf, median } from './support/stats.ts';
import { pool } from './support/pool.ts';

const LEVELS = [1, 8, 32] as const;
/** Requests per route and level in one run: enough for a p99 to mean something at 32 clients, few enough for a few minutes in all. */
const requestsAt = (clients: number) => Math.max(20, 2 * clients);

type Measured = { p50: number; p99: number; perSecond: number; errors: number };

const measure = async (clients: number, count: number, request: (index: number) => Promise<ApiResponse>): Promise<Measured> => {
  const samples: number[] = [];
  let errors = 0;
  const started = performance.now();
  await pool(count, clients, async (index) => {
    const response = await request(index);
    if (response.status >= 300) errors += 1;
    samples.push(response.ms);
  });
  const { p50, p99 } = latencyOf(samples);
  return { p50, p99, perSecond: count / ((performance.now() - started) / 1000), errors };
};

const ROUTES = ['POST /deployments', 'POST /deployments/{id}/approve', 'GET /deployments/{id}', 'GET /health (reference)'] as const;
type RouteName = (typeof ROUTES)[number];

export const apiLatency = async ({ runs }: { runs: number }): Promise<string> => {
  const stack = await startStackProcess();
  const results = new Map<string, Measured[]>();
  const keep = (route: RouteName, clients: number, measured: Measured) => {
    const key = `${route}@${clients}`;
    results.set(key, [...(results.get(key) ?? []), measured]);
  };
  try {
    const { api } = stack.endpoints;
    const fixture = await approvalFixture(api, { approvers: 1, requiredApprovals: 1 });
    const client = apiClient(api);
    const deployer = client.as(fixture.deployer.token);
    const approver = client.as(fixture.approvers[0]!.token);
    for (let run = 0; run < runs; run += 1) {
      for (const clients of LEVELS) {
        const count = requestsAt(clients);
        const ids: string[] = [];
        keep('POST /deployments', clients, await measure(clients, count, async (i) => {
          const response = await deployer('POST', '/deployments', fixture.deployment);
          if (response.status === 201) ids[i] = response.body.deploymentId;
          return response;
        }));
        const made = ids.filter(Boolean);
        keep('POST /deployments/{id}/approve', clients, await measure(clients, made.length, (i) => approver('POST', `/deployments/${made[i]}/approve`, {})));
        keep('GET /deployments/{id}', clients, await measure(clients, made.length, (i) => deployer('GET', `/deployments/${made[i]}`)));
        keep('GET /health (reference)', clients, await measure(clients, count, () => client.as()('GET', '/health')));
      }
    }
  } finally {
    await stack.stop();
  }

  const cell = (route: RouteName, clients: number, pick: (m: Measured) => number) => median((results.get(`${route}@${clients}`) ?? []).map(pick));
  const rows = ROUTES.map((route) => [
    route,
    ...LEVELS.flatMap((clients) => [ms(cell(route, clients, (m) => m.p50)), ms(cell(route, clients, (m) => m.p99))]),
    ...LEVELS.map((clients) => cell(route, clients, (m) => m.perSecond).toFixed(1)),
    LEVELS.map((clients) => (results.get(`${route}@${clients}`) ?? []).reduce((sum, m) => sum + m.errors, 0)).join(' / '),
  ]);
  const errors = [...results.values()].flat().reduce((sum, m) => sum + m.errors, 0);
  return [
    `## HTTP API latency (median of ${runs} runs; ms, client-side)`,
    '',
    `Machine: ${machineLine()}. Local stack in its own process on loopback; each run sends ${LEVELS.map((c) => `${requestsAt(c)} requests per route at ${c} client${c > 1 ? 's' : ''}`).join(', ')}; approve is one vote on a fresh deployment (it becomes Approved). ${errors ? `**${errors} requests did not succeed.**` : 'Every request succeeded.'}`,
    '',
    table(['Route', ...LEVELS.flatMap((c) => [`p50 @${c}`, `p99 @${c}`]), ...LEVELS.map((c) => `req/s @${c}`), `failed @${LEVELS.join('/')} (all runs)`], rows),
    '',
    'A p99 of a run is its slowest request or close to it (20–64 samples per run). The local stack runs every function in one Node process on this machine, so latency grows with concurrency as requests queue for its one event loop, and past the 10 s function timeout a request fails (503 with Retry-After, the handler having run out of time); in AWS each request has its own Lambda instance.',
  ].join('\n');
};

export const apiLatencyBench: BenchModule = { name: 'api-latency', run: () => apiLatency({ runs: 3 }) };

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } });
  await publish('api-latency.md', await apiLatency({ runs: Number(values.runs ?? 3) }));
}
