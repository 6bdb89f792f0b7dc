/**
 * `npm run load`: 200 deployments with approvals, driven concurrently through the HTTP API of a
 * local stack of its own (loopback only), then the invariants checked:
 *   - every deployment ended in the state its actions imply, through exactly the transitions
 *     they imply, each once (its history);
 *   - the audit trail holds each action once, none refused, and its chain verifies;
 *   - every workflow ended; no request answered 5xx.
 * Bounded: a hard deadline (default 300 s) and a fixed number of requests per deployment.
 * Reports requests/s and p50/p99 per route; exits 1 if an invariant fails.
 * Options: --deployments N (200), --concurrency N (8), --deadline S (300).
 * Writes bench/reports/load.md.
 */
import { parseArgs } from 'node:util';
import { apiClient, type Call } from './support/api-client.ts';
import { approvalFixture, type ApprovalFixture } from './support/fixture.ts';
import { isMain, machineLine, ms, publish, table, type BenchModule } from './support/report.ts';
import { startStackProcess } from './support/stack-process.ts';
import type { LocalMetrics } from '../local/metrics.ts';
import { pool } from './support/pool.ts';
import { latencyOf } from './support/stats.ts';
import { poll, workflowEnded, workflowStatus } from './support/workflow.ts';

/**
 * What is done to one deployment. The deploy step needs target agents to succeed, which this
 * test does not run (to stay independent of them), so only a few deployments deploy and either
 * outcome is accepted for those; the rest end at a decision.
 */
export type Plan = 'cancel-approved' | 'decline' | 'cancel-pending' | 'deploy';

export const planFor = (index: number): Plan => (index % 20 === 0 ? 'deploy' : index % 10 === 5 ? 'cancel-pending' : index % 2 ? 'decline' : 'cancel-approved');

type Step = { from: string | null; to: string };

/** The transitions a plan implies, in order; a deploy may end either way. */
export const expectedHistory = (plan: Plan, outcome?: string): Step[] => {
  const pending: Step = { from: null, to: 'PendingApproval' };
  switch (plan) {
    case 'cancel-approved':
      return [pending, { from: 'PendingApproval', to: 'Approved' }, { from: 'Approved', to: 'Canceled' }];
    case 'decline':
      return [pending, { from: 'PendingApproval', to: 'Declined' }];
    case 'cancel-pending':
      return [pending, { from: 'PendingApproval', to: 'Canceled' }];
    case 'deploy':
      return [pending, { from: 'PendingApproval', to: 'Approved' }, { from: 'Approved', to: 'InProgress' }, { from: 'InProgress', to: outcome ?? 'Succeeded|Failed' }];
  }
};

/** Audit events (action -> count) each plan writes for its deployment; decline and deploy are approver actions. */
export const expectedAudit = (plan: Plan): Record<string, number> =>
  ({
    'cancel-approved': { 'deployments:create': 1, 'deployments:approve': 2, 'deployments:cancel': 1 },
    decline: { 'deployments:create': 1, 'deployments:approve': 2 },
    'cancel-pending': { 'deployments:create': 1, 'deployments:cancel': 1 },
    deploy: { 'deployments:create': 1, 'deployments:approve': 3 },
  })[plan];

/** A deployment driven; without an id when starting it failed. */
type Driven = { index: number; plan: Plan; deploymentId?: string; failures: string[] };

const REQUIRED_APPROVALS = 2;
/** How long a deploy may take to end (with no targets it fails at once). */
const DEPLOY_SECONDS = 60;

const drive = async (index: number, fixture: ApprovalFixture, calls: { deployer: Call; approvers: Call[] }): Promise<Driven> => {
  const plan = planFor(index);
  const failures: string[] = [];
  const expectOk = async (what: string, response: Promise<{ status: number; body: unknown }>) => {
    const answer = await response;
    if (answer.status !== 200) failures.push(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
  };
  const created = await calls.deployer('POST', '/deployments', fixture.deployment);
  if (created.status !== 201) return { index, plan, failures: [`create: ${created.status} ${JSON.stringify(created.body)}`] };
  const id = created.body.deploymentId as string;
  // Two approvers at once: both votes must count, and the second makes it Approved.
  const [first, second] = [calls.approvers[index % calls.approvers.length]!, calls.approvers[(index + 1) % calls.approvers.length]!];
  switch (plan) {
    case 'cancel-approved':
      await Promise.all([expectOk('approve', first('POST', `/deployments/${id}/approve`, {})), expectOk('approve', second('POST', `/deployments/${id}/approve`, {}))]);
      await expectOk('cancel', calls.deployer('POST', `/deployments/${id}/cancel`));
      break;
    case 'decline':
      await expectOk('approve', first('POST', `/deployments/${id}/approve`, {}));
      await expectOk('decline', second('POST', `/deployments/${id}/decline`, { message: 'load test: not now' }));
      break;
    case 'cancel-pending':
      await expectOk('cancel', calls.deployer('POST', `/deployments/${id}/cancel`));
      break;
    case 'deploy':
      await Promise.all([expectOk('approve', first('POST', `/deployments/${id}/approve`, {})), expectOk('approve', second('POST', `/deployments/${id}/approve`, {}))]);
      await expectOk('deploy', first('POST', `/deployments/${id}/deploy`));
      break;
  }
  return { index, plan, deploymentId: id, failures };
};

const sameSteps = (actual: Step[], expected: Step[]) =>
  actual.length === expected.length && actual.every((step, i) => step.from === expected[i]!.from && expected[i]!.to.split('|').includes(step.to));

export type LoadOptions = { deployments: number; concurrency: number; deadlineSeconds: number };

export const loadTest = async ({ deployments, concurrency, deadlineSeconds }: LoadOptions): Promise<{ markdown: string; ok: boolean }> => {
  const stack = await startStackProcess({ LATCHKEY_LOCAL_METRICS: 'true' });
  const deadline = setTimeout(() => {
    process.stderr.write(`load test: the ${deadlineSeconds} s deadline passed; stopping.\n`);
    void stack.stop().finally(() => process.exit(1));
  }, deadlineSeconds * 1000);
  try {
    const { api } = stack.endpoints;
    const fixture = await approvalFixture(api, { approvers: 3, requiredApprovals: REQUIRED_APPROVALS });
    const client = apiClient(api);
    const calls = { deployer: client.as(fixture.deployer.token), approvers: fixture.approvers.map((a) => client.as(a.token)) };

    // 1. The load, with the stack's own counters (local/metrics.ts) started afresh.
    const metricsUrl = stack.endpoints.metrics!;
    await fetch(`${metricsUrl}/metrics/reset`, { method: 'POST' });
    const started = performance.now();
    const driven = await pool(deployments, concurrency, (index) => drive(index, fixture, calls));
    const statusOf = workflowStatus(stack.endpoints, stack.env.DEPLOYMENT_STATE_MACHINE_ARN!);
    // Deployments that deploy end when their workflow does: the deployer watches them.
    const begun = driven.filter((d): d is Driven & { deploymentId: string } => d.deploymentId !== undefined);
    const deploying = begun.filter((d) => d.plan === 'deploy');
    await pool(deploying.length, concurrency, async (i) => {
      const d = deploying[i]!;
      await poll(`deployment ${d.deploymentId} to finish`, async () => {
        const state = (await calls.deployer('GET', `/deployments/${d.deploymentId}`)).body.state as string;
        return state === 'Succeeded' || state === 'Failed' ? state : undefined;
      }, DEPLOY_SECONDS * 1000).catch((error: Error) => d.failures.push(error.message));
    });
    const seconds = (performance.now() - started) / 1000;
    const loadRequests = client.requests();
    const counted = (await (await fetch(`${metricsUrl}/metrics`)).json()) as LocalMetrics;
    const latency = new Map(client.latency.byLabel);

    // 2. The invariants (their requests are not in the numbers above).
    const check = apiClient(api);
    const owner = check.as(fixture.ownerToken);
    const problems: string[] = driven.flatMap((d) => d.failures.map((f) => `deployment ${d.index} (${d.plan}): ${f}`));
    const outcomes = new Map<string, number>();
    const workflows = new Map<string, number>();
    for (const d of begun) {
      const read = await owner('GET', `/deployments/${d.deploymentId}`);
      if (read.status !== 200) {
        problems.push(`deployment ${d.index} (${d.plan}): reading it answered ${read.status}`);
        continue;
      }
      const view = read.body;
      const expected = expectedHistory(d.plan, view.state);
      const finalState = expected[expected.length - 1]!.to;
      if (!finalState.split('|').includes(view.state)) problems.push(`deployment ${d.index} (${d.plan}) ended ${view.state}, expected ${finalState}`);
      const steps = (view.history as Step[]).map(({ from, to }) => ({ from, to }));
      if (!sameSteps(steps, expected)) problems.push(`deployment ${d.index} (${d.plan}) history ${JSON.stringify(steps)}`);
      if (d.plan === 'deploy') {
        const outcome = `${view.state}${view.outcome?.reason ? ` (“${view.outcome.reason}”)` : ''}`;
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    }
    await pool(begun.length, concurrency, async (i) => {
      const d = begun[i]!;
      const status = await workflowEnded(statusOf, d.deploymentId, 30_000).catch(() => 'RUNNING (did not end)');
      workflows.set(status, (workflows.get(status) ?? 0) + 1);
      if (status.startsWith('RUNNING')) problems.push(`deployment ${d.index} (${d.plan}): its workflow did not end`);
    });

    const events: { action: string; outcome: string; target?: { type: string; id: string }; actor: unknown }[] = [];
    for (let cursor: string | undefined, first = true; first || cursor; first = false) {
      const page = await owner('GET', `/audit?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      if (page.status !== 200) {
        problems.push(`reading the audit trail answered ${page.status}`);
        break;
      }
      events.push(...page.body.items);
      cursor = page.body.nextCursor;
    }
    const byDeployment = new Map<string, typeof events>();
    for (const event of events) {
      if (event.target?.type !== 'deployment') continue;
      byDeployment.set(event.target.id, [...(byDeployment.get(event.target.id) ?? []), event]);
    }
    for (const d of begun) {
      const mine = byDeployment.get(d.deploymentId) ?? [];
      const refused = mine.filter((e) => e.outcome !== 'succeeded');
      if (refused.length) problems.push(`deployment ${d.index}: refused audit events ${refused.map((e) => e.action).join(', ')}`);
      const counted: Record<string, number> = {};
      for (const e of mine.filter((e) => e.actor !== null)) counted[e.action] = (counted[e.action] ?? 0) + 1;
      if (JSON.stringify(Object.entries(counted).sort()) !== JSON.stringify(Object.entries(expectedAudit(d.plan)).sort())) {
        problems.push(`deployment ${d.index} (${d.plan}): audit ${JSON.stringify(counted)}, expected ${JSON.stringify(expectedAudit(d.plan))}`);
      }
      const system = mine.filter((e) => e.actor === null).map((e) => e.action);
      if (new Set(system).size !== system.length) problems.push(`deployment ${d.index}: a system audit event repeated: ${system.join(', ')}`);
    }
    const verified = await owner('GET', '/audit/verify');
    const verification = verified.status === 200 ? verified.body : { valid: false, checked: 0, problem: `answered ${verified.status}` };
    if (!verification.valid) problems.push(`the audit chain does not verify: ${JSON.stringify(verification)}`);
    const serverErrors = [...client.serverErrors, ...check.serverErrors];
    if (serverErrors.length) problems.push(`${serverErrors.length} answers were 5xx: ${[...new Set(serverErrors)].join('; ')}`);

    // 3. The report.
    const plans = new Map<Plan, number>();
    for (const d of driven) plans.set(d.plan, (plans.get(d.plan) ?? 0) + 1);
    const routes = [...latency.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([route, samples]) => {
      const l = latencyOf(samples);
      return [route, l.count, ms(l.p50), ms(l.p99)];
    });
    const all = latencyOf([...latency.values()].flat());
    const total = (counts: Record<string, number>) => Object.values(counts).reduce((n, c) => n + c, 0);
    const perDeployment = (n: number) => (n / Math.max(1, begun.length)).toFixed(1);
    const stackRows: [string, number][] = [
      ['Lambda invocations', Object.values(counted.lambda).reduce((n, f) => n + f.invocations, 0)],
      ['Step Functions state transitions', counted.stateTransitions],
      ['DynamoDB requests', total(counted.dynamodb.requests)],
      ['DynamoDB conditional writes refused (lost races, e.g. on the audit chain head)', counted.dynamodb.failedConditionalWrites],
      ['DynamoDB read request units', counted.dynamodb.readUnits],
      ['DynamoDB write request units (table + global index)', counted.dynamodb.writeUnits + counted.dynamodb.indexWriteUnits],
      ['SQS requests (not counting empty receives)', total(Object.fromEntries(Object.entries(counted.sqs).filter(([op]) => !op.endsWith('(empty)'))))],
    ];
    const invariants = [
      ['Every deployment in the state its actions imply, with exactly the implied transitions', problems.some((p) => /ended|history/.test(p)) ? 'FAILED' : 'ok'],
      ['Each action in the audit trail once, none refused', problems.some((p) => /audit (events|\{)|system audit/.test(p)) ? 'FAILED' : 'ok'],
      [`Audit chain verifies (${verification.checked} events)`, verification.valid ? 'ok' : 'FAILED'],
      ['Every workflow ended', problems.some((p) => /workflow did not end/.test(p)) ? 'FAILED' : 'ok'],
      ['No 5xx', serverErrors.length ? `FAILED (${serverErrors.length})` : 'ok'],
      ['Every action answered 200', driven.some((d) => d.failures.length) ? 'FAILED' : 'ok'],
    ];
    const markdown = [
      `## Load: ${deployments} deployments with approvals, ${concurrency} at a time`,
      '',
      `Machine: ${machineLine()}. The local stack in its own process (\`local/main.ts --port 0 --json\`, loopback); environment needing ${REQUIRED_APPROVALS} of 3 approvers; non-secure release, no targets.`,
      `Plans: ${[...plans.entries()].map(([plan, n]) => `${n} ${plan}`).join(', ')}. Deployments that deployed ended ${[...outcomes.entries()].map(([state, n]) => `${n} ${state}`).join(', ') || '–'} (either is accepted: the deploy step needs target agents, which this test does not run). Workflows: ${[...workflows.entries()].map(([s, n]) => `${n} ${s}`).join(', ')}.`,
      '',
      `**${loadRequests} requests in ${seconds.toFixed(1)} s: ${(loadRequests / seconds).toFixed(1)} requests/s**, p50 ${ms(all.p50)} ms, p99 ${ms(all.p99)} ms (client-side, including the deployer's status polls).`,
      '',
      table(['Route', 'Requests', 'p50 ms', 'p99 ms'], routes),
      '',
      table(['Invariant', 'Result'], invariants),
      '',
      `What the stack did during the load (its own counters), in all and per deployment started (${begun.length}):`,
      '',
      table(['Count', 'All', 'Per deployment'], stackRows.map(([what, n]) => [what, Number(n.toFixed(1)), perDeployment(n)])),
      ...(problems.length ? ['', `Problems (${problems.length}):`, '', ...problems.slice(0, 12).map((p) => `- ${p}`), ...(problems.length > 12 ? [`- … and ${problems.length - 12} more`] : [])] : []),
      ...(stack.errors().length ? ['', 'Errors the stack logged (the function name is the last one the shared logger saw):', '', table(['Error', 'Count'], stack.errors().slice(0, 8).map((e) => [e.what.replaceAll('|', '/'), e.count]))] : []),
    ].join('\n');
    return { markdown, ok: problems.length === 0 };
  } finally {
    clearTimeout(deadline);
    await stack.stop();
  }
};

export const loadBench: BenchModule = {
  name: 'load',
  run: async () => (await loadTest({ deployments: 200, concurrency: 8, deadlineSeconds: 300 })).markdown,
};

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { deployments: { type: 'string' }, concurrency: { type: 'string' }, deadline: { type: 'string' } } });
  const result = await loadTest({
    deployments: Number(values.deployments ?? 200),
    concurrency: Number(values.concurrency ?? 8),
    deadlineSeconds: Number(values.deadline ?? 300),
  });
  await publish('load.md', result.markdown);
  if (!result.ok) process.stderr.write('load test: an invariant failed (see the report)\n');
  process.exit(result.ok ? 0 : 1);
}
