/**
 * `npm run load`: 200 deployments with approvals that are approved and deployed for real, and one
 * declined or cancelled for each five of those (40), driven concurrently through the HTTP API of a
 * local stack of its own (loopback only). Real agents serve them, made as people make them
 * (bench/support/secure-deployment.ts): two key servers and one target as `latchkey-agent run`
 * processes, a secure application and a small pushed release. Each client drives one deployment
 * to its end (the deployer watches a deploying one until it ends), then takes the next. Afterwards
 * the invariants:
 *   - every approved deployment Succeeded exactly once: one request to the target, its report
 *     recorded once, installed once (the target's own log);
 *   - no declined or cancelled deployment was dispatched: no grant or target request, no target
 *     on it, no agent log line naming it;
 *   - every deployment went through exactly the transitions its actions imply, each once, in time
 *     order (its history);
 *   - the audit trail holds each action once, none refused, and its chain verifies;
 *   - every workflow ended; no request answered 5xx.
 * Bounded: a deadline (default 600 s) stops the agents and the stack and fails the run.
 * Reports requests/s and p50/p99 per route; exits 1 if an invariant fails.
 * Options: --deployments N (approved and deployed, 200), --concurrency N (8), --deadline S (600).
 * Writes bench/reports/load.md.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { parseArgs } from 'node:util';
import { LOCAL_CREDENTIALS } from '#local/stack.ts';
import type { LocalMetrics } from '../local/metrics.ts';
import { apiClient, expectStatus, type Call } from './support/api-client.ts';
import { pool } from './support/pool.ts';
import { isMain, machineLine, ms, publish, table, type BenchModule } from './support/report.ts';
import { secureDeploymentSetup, type SecureSetup } from './support/secure-deployment.ts';
import { startStackProcess } from './support/stack-process.ts';
import { latencyOf } from './support/stats.ts';
import { poll, workflowEnded, workflowStatus } from './support/workflow.ts';

/** What is done to one deployment. */
export type Plan = 'deploy' | 'decline' | 'cancel-approved' | 'cancel-pending';

const DECIDED: Plan[] = ['decline', 'cancel-approved', 'decline', 'cancel-pending'];

/** Every sixth deployment ends at a decision (in turn declined, cancelled once approved, declined, cancelled while pending); the others deploy. */
export const planFor = (index: number): Plan => (index % 6 === 5 ? DECIDED[Math.floor(index / 6) % DECIDED.length]! : 'deploy');

/** How many deployments to start so that `deploying` of them deploy: one decided for each five deployed. */
export const deploymentsFor = (deploying: number): number => deploying + Math.floor(deploying / 5);

type Step = { from: string | null; to: string };

/** The transitions a plan implies, in order; a deployment that deploys ends `outcome` (with agents enrolled, Succeeded). */
export const expectedHistory = (plan: Plan, outcome: 'Succeeded' | 'Failed' = 'Succeeded'): Step[] => {
  const pending: Step = { from: null, to: 'PendingApproval' };
  const approved: Step = { from: 'PendingApproval', to: 'Approved' };
  switch (plan) {
    case 'cancel-approved':
      return [pending, approved, { from: 'Approved', to: 'Canceled' }];
    case 'decline':
      return [pending, { from: 'PendingApproval', to: 'Declined' }];
    case 'cancel-pending':
      return [pending, { from: 'PendingApproval', to: 'Canceled' }];
    case 'deploy':
      return [pending, approved, { from: 'Approved', to: 'InProgress' }, { from: 'InProgress', to: outcome }];
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

/** A deployment driven; without an id when starting it failed; `deployMs` from the deploy action to the end the deployer saw. */
type Driven = { index: number; plan: Plan; deploymentId?: string; deployMs?: number; failures: string[] };
type People = { deployer: Call; approvers: Call[] };

const REQUIRED_APPROVALS = 2;
/** The release deployed: small, so the load is on the API, the workflow and the agents' requests. */
const RELEASE_BYTES = 4096;
/** How long one deployment may take from the deploy action to its end (the target installs one at a time). */
const DEPLOY_SECONDS = 180;

const drive = async (index: number, deployment: SecureSetup['deployment'], people: People): Promise<Driven> => {
  const plan = planFor(index);
  const failures: string[] = [];
  const expectOk = async (what: string, response: Promise<{ status: number; body: unknown }>) => {
    const answer = await response;
    if (answer.status !== 200) failures.push(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
  };
  const created = await people.deployer('POST', '/deployments', deployment);
  if (created.status !== 201) return { index, plan, failures: [`create: ${created.status} ${JSON.stringify(created.body)}`] };
  const id = created.body.deploymentId as string;
  // Two approvers at once: both votes must count, and the second makes it Approved.
  const [first, second] = [people.approvers[index % people.approvers.length]!, people.approvers[(index + 1) % people.approvers.length]!];
  const bothApprove = () => Promise.all([expectOk('approve', first('POST', `/deployments/${id}/approve`, {})), expectOk('approve', second('POST', `/deployments/${id}/approve`, {}))]);
  switch (plan) {
    case 'cancel-approved':
      await bothApprove();
      await expectOk('cancel', people.deployer('POST', `/deployments/${id}/cancel`));
      break;
    case 'decline':
      await expectOk('approve', first('POST', `/deployments/${id}/approve`, {}));
      await expectOk('decline', second('POST', `/deployments/${id}/decline`, { message: 'load test: not now' }));
      break;
    case 'cancel-pending':
      await expectOk('cancel', people.deployer('POST', `/deployments/${id}/cancel`));
      break;
    case 'deploy': {
      await bothApprove();
      const started = performance.now();
      await expectOk('deploy', first('POST', `/deployments/${id}/deploy`));
      if (failures.length) break;
      // The deployer watches it to its end, as `latchkey status --watch` does.
      const ended = await poll(
        `deployment ${id} to end`,
        async () => {
          const state = (await people.deployer('GET', `/deployments/${id}`)).body.state as string;
          return state === 'Succeeded' || state === 'Failed' ? state : undefined;
        },
        DEPLOY_SECONDS * 1000,
      ).catch((error: Error) => failures.push(error.message));
      if (ended === 'Succeeded') return { index, plan, deploymentId: id, deployMs: performance.now() - started, failures };
      break;
    }
  }
  return { index, plan, deploymentId: id, failures };
};

const sameSteps = (actual: Step[], expected: Step[]) => actual.length === expected.length && actual.every((step, i) => step.from === expected[i]!.from && step.to === expected[i]!.to);

type DeployRequest = { deploymentId: string; agentId: string; purpose?: 'grant' };

/** The requests the deploy step sent for the account's deployments (ACCOUNT#<acc> / DEPLOYREQ#<req>, functions/workflow/dynamo-deploy-runs.ts), read from the stack's DynamoDB. */
const deployRequestsOf = async (stack: Awaited<ReturnType<typeof startStackProcess>>, accountId: string): Promise<DeployRequest[]> => {
  const { region, dynamodb: endpoint } = stack.endpoints;
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ region, endpoint, credentials: LOCAL_CREDENTIALS }));
  const items: DeployRequest[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new QueryCommand({
        TableName: stack.env.DEPLOYMENTS_TABLE!,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': `ACCOUNT#${accountId}`, ':prefix': 'DEPLOYREQ#' },
        ConsistentRead: true,
        ExclusiveStartKey,
      }),
    );
    items.push(...((page.Items ?? []) as DeployRequest[]));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  db.destroy();
  return items;
};

const countBy = <T>(items: readonly T[], key: (item: T) => string) => {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
};
const listed = (counts: Map<string, number>) => [...counts.entries()].map(([what, n]) => `${n} ${what}`).join(', ') || '–';

export type LoadOptions = { deployments: number; concurrency: number; deadlineSeconds: number };

export const loadTest = async ({ deployments, concurrency, deadlineSeconds }: LoadOptions): Promise<{ markdown: string; ok: boolean }> => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const say = (line: string) => process.stderr.write(`load: ${line}\n`);
  const stack = await startStackProcess({ LATCHKEY_LOCAL_METRICS: 'true' });
  let setup: SecureSetup | undefined;
  const stopAll = async () => {
    await setup?.stop();
    await stack.stop();
  };
  const deadline = setTimeout(() => {
    say(`the ${deadlineSeconds} s deadline passed; stopping the agents and the stack.`);
    void stopAll().finally(() => process.exit(1));
  }, deadlineSeconds * 1000);
  try {
    const { api } = stack.endpoints;
    setup = await secureDeploymentSetup(stack.endpoints, { releaseBytes: RELEASE_BYTES, approval: { approvers: 3, required: REQUIRED_APPROVALS }, say });
    const { target, keyServers } = setup;
    const agents = [...keyServers, target];
    const client = apiClient(api);
    const owner = apiClient(api).as(setup.ownerToken);
    const deployer = expectStatus(
      await owner('POST', '/users', { name: 'Dana Deployer', email: `deployer-${setup.accountId.slice(4, 12)}@example.com`, role: 'deployer' }),
      201,
      'add the deployer',
    );
    const people = { deployer: client.as(deployer.firstToken.secret), approvers: setup.approvers.map((a) => client.as(a.token)) };
    const total = deploymentsFor(deployments);

    // 1. The load, with the stack's own counters (local/metrics.ts) started afresh.
    const metricsUrl = stack.endpoints.metrics!;
    await fetch(`${metricsUrl}/metrics/reset`, { method: 'POST' });
    const loadBefore = machineLine().split('load average ')[1];
    const loadStartedAt = new Date().toISOString();
    say(`${total} deployments (${deployments} to deploy), ${concurrency} at a time`);
    const started = performance.now();
    const driven = await pool(total, concurrency, async (index) => {
      const d = await drive(index, setup!.deployment, people);
      if ((index + 1) % 40 === 0) say(`${index + 1} of ${total} driven, ${((performance.now() - started) / 1000).toFixed(0)} s`);
      return d;
    });
    const seconds = (performance.now() - started) / 1000;
    const loadRequests = client.requests();
    const counted = (await (await fetch(`${metricsUrl}/metrics`)).json()) as LocalMetrics;
    const latency = new Map(client.latency.byLabel);
    const loadAfter = machineLine().split('load average ')[1];

    // 2. The invariants (their requests are not in the numbers above).
    const check = apiClient(api);
    const asOwner = check.as(setup.ownerToken);
    const problems: string[] = driven.flatMap((d) => d.failures.map((f) => `deployment ${d.index} (${d.plan}): ${f}`));
    const begun = driven.filter((d): d is Driven & { deploymentId: string } => d.deploymentId !== undefined);
    const succeeded = begun.filter((d) => d.deployMs !== undefined).length;
    // The target logs "release installed" before it replies: its last lines may still be in its stdout pipe.
    const installedLines = () => target.log.filter((l) => l.msg === 'release installed');
    await poll('the target to log its installs', async () => (installedLines().length >= succeeded ? true : undefined), 10_000).catch(() => {});
    const installs = countBy(installedLines(), (l) => String(l.deploymentId));
    const agentLines = countBy(
      agents.flatMap((a) => a.log.filter((l) => typeof l.deploymentId === 'string')),
      (l) => l.deploymentId as string,
    );
    const requests = await deployRequestsOf(stack, setup.accountId);
    const targetRequests = countBy(requests.filter((r) => r.purpose !== 'grant'), (r) => `${r.deploymentId} ${r.agentId}`);
    const grantRequests = countBy(requests.filter((r) => r.purpose === 'grant'), (r) => r.deploymentId);
    const problem = (d: Driven, kind: string, what: string) => problems.push(`${kind}: deployment ${d.index} (${d.plan}) ${what}`);
    const outcomes = new Map<string, number>();
    const workflows = new Map<string, number>();
    for (const d of begun) {
      const read = await asOwner('GET', `/deployments/${d.deploymentId}`);
      if (read.status !== 200) {
        problem(d, 'state', `reading it answered ${read.status}`);
        continue;
      }
      const view = read.body;
      const expected = expectedHistory(d.plan);
      const history = view.history as (Step & { at: string })[];
      const steps = history.map(({ from, to }) => ({ from, to }));
      if (!sameSteps(steps, expected)) problem(d, 'history', `went ${JSON.stringify(steps)}, expected ${JSON.stringify(expected)}`);
      if (history.some((h, i) => i > 0 && h.at < history[i - 1]!.at)) problem(d, 'history', `has its transitions out of time order: ${history.map((h) => h.at).join(', ')}`);
      const outcome = `${view.state}${view.outcome?.reason ? ` (“${view.outcome.reason}”)` : ''}`;
      outcomes.set(`${d.plan} → ${outcome}`, (outcomes.get(`${d.plan} → ${outcome}`) ?? 0) + 1);
      if (d.plan === 'deploy') {
        if (view.state !== 'Succeeded') problem(d, 'deployed', `ended ${outcome}`);
        const reports = (view.targets ?? []) as { agentId: string; outcome: string }[];
        if (reports.length !== 1 || reports[0]!.agentId !== target.agentId || reports[0]!.outcome !== 'succeeded') problem(d, 'deployed', `has target reports ${JSON.stringify(reports)}`);
        const sent = targetRequests.get(`${d.deploymentId} ${target.agentId}`) ?? 0;
        const toOthers = requests.filter((r) => r.deploymentId === d.deploymentId && r.purpose !== 'grant' && r.agentId !== target.agentId).length;
        if (sent !== 1 || toOthers) problem(d, 'deployed', `sent ${sent} requests to the target and ${toOthers} to other agents`);
        if (!grantRequests.get(d.deploymentId)) problem(d, 'deployed', 'asked no key server for a grant');
        if (installs.get(d.deploymentId) !== 1) problem(d, 'deployed', `installed ${installs.get(d.deploymentId) ?? 0} times by the target`);
      } else {
        if (view.targets) problem(d, 'dispatched', `has targets ${JSON.stringify(view.targets)}`);
        const sent = requests.filter((r) => r.deploymentId === d.deploymentId).length;
        if (sent) problem(d, 'dispatched', `sent ${sent} requests to agents`);
        if (agentLines.get(d.deploymentId)) problem(d, 'dispatched', `is named in ${agentLines.get(d.deploymentId)} agent log lines`);
      }
    }
    // Only the load's deployments were installed, each once.
    const strayInstalls = [...installs.keys()].filter((id) => !begun.some((d) => d.deploymentId === id));
    if (strayInstalls.length) problems.push(`deployed: the target installed deployments the load did not start: ${strayInstalls.join(', ')}`);
    const statusOf = workflowStatus(stack.endpoints, stack.env.DEPLOYMENT_STATE_MACHINE_ARN!);
    await pool(begun.length, concurrency, async (i) => {
      const d = begun[i]!;
      const status = await workflowEnded(statusOf, d.deploymentId, 30_000).catch(() => 'RUNNING (did not end)');
      workflows.set(status, (workflows.get(status) ?? 0) + 1);
      if (status.startsWith('RUNNING')) problem(d, 'workflow', 'did not end');
    });

    const events: { action: string; outcome: string; target?: { type: string; id: string }; actor: unknown }[] = [];
    for (let cursor: string | undefined, first = true; first || cursor; first = false) {
      const page = await asOwner('GET', `/audit?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      if (page.status !== 200) {
        problems.push(`audit: reading the audit trail answered ${page.status}`);
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
      if (refused.length) problem(d, 'audit', `has refused audit events ${refused.map((e) => e.action).join(', ')}`);
      const actions = Object.fromEntries(countBy(mine.filter((e) => e.actor !== null), (e) => e.action));
      if (JSON.stringify(Object.entries(actions).sort()) !== JSON.stringify(Object.entries(expectedAudit(d.plan)).sort())) {
        problem(d, 'audit', `has audit ${JSON.stringify(actions)}, expected ${JSON.stringify(expectedAudit(d.plan))}`);
      }
      const system = mine.filter((e) => e.actor === null).map((e) => e.action);
      if (new Set(system).size !== system.length) problem(d, 'audit', `has a system audit event repeated: ${system.join(', ')}`);
    }
    const verified = await asOwner('GET', '/audit/verify');
    const verification = verified.status === 200 ? verified.body : { valid: false, checked: 0, problem: `answered ${verified.status}` };
    if (!verification.valid) problems.push(`audit: the chain does not verify: ${JSON.stringify(verification)}`);
    const serverErrors = [...client.serverErrors, ...check.serverErrors];
    if (serverErrors.length) problems.push(`5xx: ${serverErrors.length} answers: ${[...new Set(serverErrors)].join('; ')}`);

    // 3. The report.
    const routes = [...latency.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([route, samples]) => {
      const l = latencyOf(samples);
      return [route, l.count, ms(l.p50), ms(l.p99)];
    });
    const all = latencyOf([...latency.values()].flat());
    const actions = loadRequests - (latency.get('GET /deployments/{id}')?.length ?? 0);
    // Not an invariant (a redelivery is what at-least-once delivery allows), but what the agents met under the load.
    const agentWarnings = countBy(
      agents.flatMap((a) => a.log.filter((l) => (l.level === 'warn' || l.level === 'error') && (l.time ?? '') >= loadStartedAt).map((l) => `${a.name}: ${l.msg}${l.detail ? ` (${String(l.detail)})` : ''}`)),
      (what) => what,
    );
    const deploy = latencyOf(driven.flatMap((d) => (d.deployMs === undefined ? [] : [d.deployMs])));
    const sum = (counts: Record<string, number>) => Object.values(counts).reduce((n, c) => n + c, 0);
    const perDeployment = (n: number) => (n / Math.max(1, begun.length)).toFixed(1);
    const stackRows: [string, number][] = [
      ['Lambda invocations', Object.values(counted.lambda).reduce((n, f) => n + f.invocations, 0)],
      ['Step Functions state transitions', counted.stateTransitions],
      ['DynamoDB requests', sum(counted.dynamodb.requests)],
      ['DynamoDB conditional writes refused (lost races, e.g. on the audit chain head)', counted.dynamodb.failedConditionalWrites],
      ['DynamoDB read request units', counted.dynamodb.readUnits],
      ['DynamoDB write request units (table + global index)', counted.dynamodb.writeUnits + counted.dynamodb.indexWriteUnits],
      ['SQS requests (not counting empty receives; the agents\' included)', sum(Object.fromEntries(Object.entries(counted.sqs).filter(([op]) => !op.endsWith('(empty)'))))],
    ];
    const failed = (kind: string) => (problems.some((p) => p.startsWith(`${kind}:`)) ? 'FAILED' : 'ok');
    const invariants = [
      [`Every approved deployment Succeeded exactly once: one request to the target, its report recorded once, installed once (${installedLines().length} installs in the target's log)`, failed('deployed')],
      ['No declined or cancelled deployment dispatched: no grant or target request, no target on it, no agent log line naming it', failed('dispatched')],
      ['Every deployment went through exactly the transitions its actions imply, each once, in time order', failed('history')],
      ['Each action in the audit trail once, none refused', failed('audit')],
      [`Audit chain verifies (${verification.checked} events)`, verification.valid ? 'ok' : 'FAILED'],
      ['Every workflow ended', failed('workflow')],
      ['No 5xx', serverErrors.length ? `FAILED (${serverErrors.length})` : 'ok'],
      ['Every action answered 200 and every deploy ended in time', driven.some((d) => d.failures.length) ? 'FAILED' : 'ok'],
    ];
    const markdown = [
      `## Load: ${deployments} approved deployments deployed by real agents, and ${total - deployments} declined or cancelled, ${concurrency} at a time`,
      '',
      `Machine: ${machineLine()}. Load average when the load began: ${loadBefore}; when it ended: ${loadAfter}. The local stack in its own process (\`local/main.ts --port 0 --json\`, loopback); two key servers and one target as \`latchkey-agent run\` processes (the target installs one release at a time), enrolled with the CLI; a secure application and one pushed release of ${RELEASE_BYTES / 1024} KiB; environment \`prod\` needing ${REQUIRED_APPROVALS} of 3 approvers. Each of ${concurrency} clients drives one deployment to its end, then the next: create, approvals, then deploy (the deployer polls it until it ends), decline or cancel.`,
      `Deployments: ${listed(outcomes)}. Key-server grant requests per deployed deployment: ${listed(countBy([...grantRequests.values()], (n) => `× ${n}`))}. Workflows: ${listed(workflows)}.`,
      '',
      `**${loadRequests} requests in ${seconds.toFixed(1)} s: ${(loadRequests / seconds).toFixed(1)} requests/s**, p50 ${ms(all.p50)} ms, p99 ${ms(all.p99)} ms (client-side, including the deployer's ${loadRequests - actions} status polls; the ${actions} actions alone: ${(actions / seconds).toFixed(1)} per second); **${succeeded} deployments Succeeded: ${((succeeded / seconds) * 60).toFixed(1)} per minute**, deploy action → Succeeded seen p50 ${ms(deploy.p50)} ms, p99 ${ms(deploy.p99)} ms.`,
      '',
      table(['Route', 'Requests', 'p50 ms', 'p99 ms'], routes),
      '',
      table(['Invariant', 'Result'], invariants),
      '',
      `What the stack did during the load (its own counters), in all and per deployment started (${begun.length}):`,
      '',
      table(['Count', 'All', 'Per deployment'], stackRows.map(([what, n]) => [what, Number(n.toFixed(1)), perDeployment(n)])),
      '',
      `Agent warnings and errors during the load: ${listed(agentWarnings).replaceAll('|', '/')}.`,
      ...(problems.length ? ['', `Problems (${problems.length}):`, '', ...problems.slice(0, 12).map((p) => `- ${p}`), ...(problems.length > 12 ? [`- … and ${problems.length - 12} more`] : [])] : []),
      ...(stack.errors().length ? ['', 'Errors the stack logged (the function name is the last one the shared logger saw):', '', table(['Error', 'Count'], stack.errors().slice(0, 8).map((e) => [e.what.replaceAll('|', '/'), e.count]))] : []),
    ].join('\n');
    return { markdown, ok: problems.length === 0 };
  } finally {
    clearTimeout(deadline);
    await stopAll();
  }
};

export const loadBench: BenchModule = {
  name: 'load',
  run: async () => (await loadTest({ deployments: 200, concurrency: 8, deadlineSeconds: 600 })).markdown,
};

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { deployments: { type: 'string' }, concurrency: { type: 'string' }, deadline: { type: 'string' } } });
  const result = await loadTest({
    deployments: Number(values.deployments ?? 200),
    concurrency: Number(values.concurrency ?? 8),
    deadlineSeconds: Number(values.deadline ?? 600),
  });
  await publish('load.md', result.markdown);
  if (!result.ok) process.stderr.write('load test: an invariant failed (see the report)\n');
  process.exit(result.ok ? 0 : 1);
}
