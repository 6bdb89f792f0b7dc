/**
 * `npm run bench:cost`: what ONE deployment with one approval costs in AWS, from the calls the
 * local stack sees (local/metrics.ts): Lambda invocations and billed time per function, Step
 * Functions state transitions, DynamoDB request units, SQS and S3 requests, SES mails and HTTP API
 * requests, times the list prices of bench/support/prices.ts. The stack runs in this process with
 * its emulators counting, and real agents (two key servers, one target) run beside it, so their
 * messages count too; the deployment is done several times and the per-run counts compared.
 * Writes bench/reports/cost.md.
 */
import { functions, type FunctionName } from '#functions/catalog.ts';
import { capturedEmails } from '#local/demo/mail.ts';
import { localMetrics, type LocalMetrics } from '#local/metrics.ts';
import { startLocalStack, type LocalStack } from '#local/stack.ts';
import { apiClient, expectStatus } from './support/api-client.ts';
import { costLines, PRICES_READ_ON, totalUsd, type Usage } from './support/prices.ts';
import { isMain, machineLine, publish, table, type BenchModule } from './support/report.ts';
import { secureDeploymentSetup, type SecureSetup } from './support/secure-deployment.ts';
import { median } from './support/stats.ts';
import { poll, workflowEnded, workflowStatus } from './support/workflow.ts';

const RUNS = 3;
const DEFAULT_MEMORY_MB = 256;
const RELEASE_BYTES = 64 * 1024;

type Run = { metrics: LocalMetrics; mails: number; state: string; seconds: number };

/**
 * One deployment as people make it: the deployer starts it, the approver acts once the approval
 * mail is there, approving and deploying in one step; then the workflow runs to its end (the key
 * server's grant, the target's install and their replies). Waiting reads the SES store and the
 * workflow's status, which the counters do not see, so only the deployment's own calls are
 * counted, and what the agents do meanwhile (their polls and heartbeats).
 */
const oneDeployment = async (stack: LocalStack, setup: SecureSetup, statusOf: (deploymentId: string) => Promise<string>): Promise<Run> => {
  const client = apiClient(stack.endpoints.api);
  const approver = setup.approver!;
  const mailsBefore = (await capturedEmails(stack.endpoints.sesStore)).length;
  const mailsToApprover = async () => (await capturedEmails(stack.endpoints.sesStore)).filter((mail) => mail.destination.to.includes(approver.email)).length;
  const approverMailsBefore = await mailsToApprover();
  localMetrics.reset();
  const started = Date.now();

  const created = expectStatus(await client.as(setup.ownerToken)('POST', '/deployments', setup.deployment), 201, 'start the deployment');
  await poll('the approval mail', async () => ((await mailsToApprover()) > approverMailsBefore ? true : undefined));
  expectStatus(await client.as(approver.token)('POST', `/deployments/${created.deploymentId}/approve`, { deploy: true }), 200, 'approve and deploy');
  await workflowEnded(statusOf, created.deploymentId);
  const metrics = localMetrics.snapshot();
  const seconds = (Date.now() - started) / 1000;

  const mails = (await capturedEmails(stack.endpoints.sesStore)).slice(mailsBefore);
  const view = expectStatus(await client.as(setup.ownerToken)('GET', `/deployments/${created.deploymentId}`), 200, 'read the deployment');
  const state = `${view.state as string}${view.outcome?.reason ? ` (“${view.outcome.reason as string}”)` : ''}`;
  const recipients = mails.reduce((sum, mail) => sum + mail.destination.to.length + mail.destination.cc.length + mail.destination.bcc.length, 0);
  return { metrics, mails: recipients, state, seconds };
};

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((total, n) => total + n, 0);

/** The billable counts of one run; idle receives (no message) are left out, they happen without deployments too. */
export const usageOf = (run: Run): Usage => ({
  lambda: Object.entries(run.metrics.lambda).map(([name, f]) => ({
    name,
    invocations: f.invocations,
    billedMs: f.billedMs,
    memoryMb: (functions[name as FunctionName] as { memoryMb?: number }).memoryMb ?? DEFAULT_MEMORY_MB,
  })),
  stateTransitions: run.metrics.stateTransitions,
  dynamoDb: { readUnits: run.metrics.dynamodb.readUnits, writeUnits: run.metrics.dynamodb.writeUnits + run.metrics.dynamodb.indexWriteUnits },
  sqsRequests: sum(Object.fromEntries(Object.entries(run.metrics.sqs).filter(([op]) => !op.endsWith('(empty)')))),
  s3: { writes: sum(Object.fromEntries(Object.entries(run.metrics.s3).filter(([method]) => method !== 'GET' && method !== 'HEAD'))), reads: (run.metrics.s3.GET ?? 0) + (run.metrics.s3.HEAD ?? 0) },
  mails: run.mails,
  httpApiRequests: sum(run.metrics.httpApi),
});

/** Counts must not differ between runs (billed time may): say so if they do. */
const countsOf = (run: Run) => {
  const { lambda, ...rest } = run.metrics;
  const { sqs, ...others } = rest;
  return JSON.stringify({ lambda: Object.fromEntries(Object.entries(lambda).map(([n, f]) => [n, f.invocations])), sqs: Object.fromEntries(Object.entries(sqs).filter(([op]) => !op.endsWith('(empty)'))), ...others, mails: run.mails });
};

const usd = (value: number) => (value === 0 ? '0' : value < 0.0001 ? value.toExponential(2) : value.toFixed(6));

export const costModel = async (): Promise<string> => {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const stack = await startLocalStack({ port: 0, countRequests: true });
  const runs: Run[] = [];
  const heartbeatSeconds = process.env.AGENT_HEARTBEAT_SECONDS; // set by the stack, as the functions read it
  try {
    const statusOf = workflowStatus(stack.endpoints, stack.env.DEPLOYMENT_STATE_MACHINE_ARN!);
    const setup = await secureDeploymentSetup(stack.endpoints, { releaseBytes: RELEASE_BYTES, approval: true });
    try {
      for (let i = 0; i < RUNS; i += 1) runs.push(await oneDeployment(stack, setup, statusOf));
    } finally {
      await setup.stop();
    }
  } finally {
    await stack.stop();
  }

  const first = runs[0]!;
  const steady = countsOf(runs[runs.length - 1]!);
  const differing = runs.filter((run) => countsOf(run) !== steady).length;
  // Billed time: the median per function over the runs; counts: the last run (warm, like most of the cloud's).
  const usage = usageOf(runs[runs.length - 1]!);
  usage.lambda = usage.lambda.map((f) => ({ ...f, billedMs: median(runs.map((run) => run.metrics.lambda[f.name]?.billedMs ?? 0)) }));
  const lines = costLines(usage);
  const total = totalUsd(lines);
  const m = runs[runs.length - 1]!.metrics;

  const perFunction = table(
    ['Function', 'Invocations', 'Billed ms (median of runs)', 'Memory MB'],
    usage.lambda.sort((a, b) => a.name.localeCompare(b.name)).map((f) => [f.name, f.invocations, f.billedMs, f.memoryMb]),
  );
  const detail = table(
    ['What', 'Count'],
    [
      ...Object.entries(m.httpApi).map(([route, n]) => [`HTTP API ${route}`, n] as [string, number]),
      ['Step Functions state transitions', m.stateTransitions],
      ...Object.entries(m.dynamodb.requests).map(([op, n]) => [`DynamoDB ${op} requests`, n] as [string, number]),
      ['DynamoDB read request units (table)', m.dynamodb.readUnits],
      ['DynamoDB write request units (table)', m.dynamodb.writeUnits],
      ['DynamoDB write request units (global indexes)', m.dynamodb.indexWriteUnits],
      ['DynamoDB failed conditional writes (billed, included above)', m.dynamodb.failedConditionalWrites],
      ...Object.entries(m.sqs).map(([op, n]) => [`SQS ${op}`, n] as [string, number]),
      ...Object.entries(m.s3).map(([method, n]) => [`S3 ${method}`, n] as [string, number]),
      ['SES mails (recipients)', first.mails],
    ],
  );
  const costs = table(
    ['Service', 'Quantity', 'Unit', 'Price', 'USD per deployment'],
    [
      ...lines.map((l) => [l.service, Number(l.quantity.toFixed(4)), l.price.unit, `$${l.price.usd} per ${l.price.per.toLocaleString('en-US')}`, usd(l.usd)]),
      ['**Total**', '', '', '', `**${usd(total)}**`],
    ],
  );
  const perRun = table(
    ['Run', 'Lambda invocations', 'State transitions', 'DynamoDB requests', 'RRU', 'WRU (table + index)', 'SQS requests', 'Mails', 'Lambda billed ms'],
    runs.map((run, i) => {
      const u = usageOf(run);
      return [
        `${i + 1}${i === 0 ? ' (cold)' : ''}`,
        u.lambda.reduce((n, f) => n + f.invocations, 0),
        u.stateTransitions,
        sum(run.metrics.dynamodb.requests),
        u.dynamoDb.readUnits,
        u.dynamoDb.writeUnits,
        u.sqsRequests,
        u.mails,
        u.lambda.reduce((n, f) => n + f.billedMs, 0),
      ];
    }),
  );
  const sources = [...new Set(lines.map((l) => l.price.source))].map((s) => `- ${s}`).join('\n');
  return [
    `## Cost model: one deployment with one approval (AWS us-east-1 list prices, read ${PRICES_READ_ON})`,
    '',
    `Machine: ${machineLine()}. ${RUNS} runs of: the owner starts the deployment of a secure release (${RELEASE_BYTES / 1024} KiB) to an environment needing one approval, with two key servers and one target running as \`latchkey-agent run\` processes; the approver, once mailed, approves and deploys (\`POST /deployments/{id}/approve\` with \`deploy: true\`); the workflow runs to its end (deployment ${[...new Set(runs.map((r) => r.state))].join('; ')}). Counts ${differing === 0 ? 'were identical in every run' : `differed in ${differing} of ${RUNS} runs (the tables show the last; each run is below: an agent heartbeat that falls in the deployment, a decision that beats the workflow to its wait, or a lost race on a conditional write, takes a few more requests)`}.`,
    ...(runs.some((run) => !run.state.startsWith('Succeeded'))
      ? ['', '**A deployment did not succeed**, so its counts lack part of the deploy step (the key-server or target messages, and the Lambda and DynamoDB work of their replies).']
      : []),
    '',
    costs,
    '',
    `About **$${(total * 1000).toFixed(4)} per 1,000 deployments**. Not included: free tiers, data transfer, storage (DynamoDB GB-month, S3 GB-month), CloudWatch logs and X-Ray traces, and idle SQS long polls of the reply-queue consumer and of the agents (${sum(Object.fromEntries(Object.entries(m.sqs).filter(([op]) => op.endsWith('(empty)'))))} in this window; Lambda's pollers and the agents make them whether or not anything is deployed). Heartbeats count when they fall in a deployment: each agent sends one every ${heartbeatSeconds} s whatever is deployed, and a deployment took ${median(runs.map((r) => r.seconds)).toFixed(1)} s here (median, the approval mail included), so most windows hold none.`,
    '',
    'How it is counted: Lambda invocations and billed ms at the local Lambda runtime (in-process, so billed time is only a proxy: the cloud runs each on its own 256 MB arm64 share and also bills init on cold starts); state transitions as states entered plus retries (Step Functions bills each, retries included); DynamoDB request units as dynalite meters them (1 KB per write unit, 4 KB per read unit, half for eventually consistent reads), plus global index writes and failed conditional writes; SQS and S3 requests at the emulator, the agents’ included (the key server’s grant request and reply, the target’s deploy request, its download of the release (S3 GET) and reply, and every agent’s heartbeats while the deployment runs); SES as recipients of the mails captured; HTTP API requests at the local API front.',
    '',
    '### Calls per deployment',
    '',
    perRun,
    '',
    perFunction,
    '',
    detail,
    '',
    '### Price sources',
    '',
    sources,
  ].join('\n');
};

export const costBench: BenchModule = { name: 'cost', run: costModel };

if (isMain(import.meta.url)) await publish('cost.md', await costModel());
