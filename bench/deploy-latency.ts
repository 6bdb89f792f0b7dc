/**
 * `npm run bench:deploy`: end-to-end deploy latency on the local stack, from `latchkey deploy`
 * to the deployment being Succeeded on the target's report, for a 10 MiB and a 1 GiB secure
 * release, with real agents (two key servers, one target; bench/support/secure-deployment.ts).
 * The split comes from timestamps that exist anyway: the request records the backend writes
 * before it sends a request to an agent, the agents' debug log lines (request received, download
 * started and progress, release decrypted and installed, request answered) and the deployment's
 * history. Writes bench/reports/deploy-latency.md.
 */
import type { AgentLogLine } from '#local/demo/agent-process.ts';
import { cliBin, run } from '#local/demo/processes.ts';
import { startLocalStack } from '#local/stack.ts';
import { apiClient, expectStatus } from './support/api-client.ts';
import { isMain, machineLine, ms, publish, table, type BenchModule } from './support/report.ts';
import { secureDeploymentSetup, type SecureSetup } from './support/secure-deployment.ts';
import { requestRecords, type RequestRecord } from './support/request-records.ts';
import { median } from './support/stats.ts';
import { poll } from './support/workflow.ts';

const SIZES = [
  { label: '10 MiB', bytes: 10 * 2 ** 20, runs: Number(process.env.BENCH_DEPLOY_RUNS_SMALL ?? 5) },
  { label: '1 GiB', bytes: 2 ** 30, runs: Number(process.env.BENCH_DEPLOY_RUNS_LARGE ?? 3) },
];
const TERMINAL = ['Succeeded', 'Failed', 'Declined', 'Canceled', 'Expired'];

/** The parts of one deployment, in the order they happen; each is the time between two recorded instants. */
const PARTS = [
  ['latchkey deploy: CLI start, intent signed, POST /deployments answered', 'started', 'accepted'],
  ['backend: workflow until the grant request is sent', 'accepted', 'grantSent'],
  ['queue wait: key server', 'grantSent', 'grantReceived'],
  ['key server: checks, unwrap, key list, wrap to target, sign grant', 'grantReceived', 'grantAnswered'],
  ['backend: reply queue and workflow until the deploy request is sent', 'grantAnswered', 'deploySent'],
  ['queue wait: target', 'deploySent', 'deployReceived'],
  ['target: grant and manifest checks, used-grant record', 'deployReceived', 'downloadStarted'],
  ['target: download (decrypting and unpacking as it streams in)', 'downloadStarted', 'downloaded'],
  ['target: decrypt after the last byte (last segments, digest)', 'downloaded', 'decrypted'],
  ['target: install (the rest of the unpacking, postInstall, move into place, switch current)', 'decrypted', 'installed'],
  ['backend: reply queue and workflow until Succeeded', 'installed', 'succeeded'],
] as const;
type Instant = (typeof PARTS)[number][1 | 2];

const timeOf = (line: AgentLogLine | undefined, what: string): number => {
  if (!line?.time) throw new Error(`no agent log line for ${what}`);
  return Date.parse(line.time);
};

/** One deployment of the setup's release, timed; fails unless it ends Succeeded. */
const timedDeployment = async (setup: SecureSetup, requestsOf: (accountId: string, since: string) => Promise<RequestRecord[]>, timeoutMs: number) => {
  const client = apiClient(setup.endpoint).as(setup.ownerToken);
  const started = Date.now();
  // As people deploy: `latchkey deploy` signs the deployer's intent, without which key servers and targets act on nothing.
  const { deploymentId } = JSON.parse(await run(cliBin, ['deploy', 'web', '1.0.0', 'prod', '--json'], { env: setup.ownerEnv })) as { deploymentId: string };
  const answer = { ms: Date.now() - started };
  const view = await poll(
    `deployment ${deploymentId} to end`,
    async () => {
      const now = expectStatus(await client('GET', `/deployments/${deploymentId}`), 200, 'read the deployment');
      return TERMINAL.includes(now.state) ? now : undefined;
    },
    timeoutMs,
  );
  if (view.state !== 'Succeeded') throw new Error(`deployment ${deploymentId} ended ${view.state}: ${view.outcome?.reason ?? ''}`);

  const requests = await requestsOf(setup.accountId, new Date(started).toISOString());
  const grant = requests.find((r) => r.agentId !== setup.target.agentId);
  const deploy = requests.find((r) => r.agentId === setup.target.agentId);
  if (!grant || !deploy) throw new Error(`deployment ${deploymentId}: expected a grant and a deploy request, found ${requests.length} requests`);
  const keyServer = setup.keyServers.find((k) => k.agentId === grant.agentId);
  const target = setup.target.log;
  const byRequest = (log: AgentLogLine[], msg: string, requestId: string) => log.find((l) => l.msg === msg && l.requestId === requestId);
  const byDeployment = (msg: string, extra: (l: AgentLogLine) => boolean = () => true) => target.find((l) => l.msg === msg && l.deploymentId === deploymentId && extra(l));
  // The target's last lines may still be on their way through its stdout pipe.
  await poll('the target to log its answer', async () => byRequest(target, 'request answered', deploy.requestId));
  const at: Record<Instant, number> = {
    started,
    accepted: started + answer.ms,
    grantSent: Date.parse(grant.createdAt),
    grantReceived: timeOf(byRequest(keyServer?.log ?? [], 'request received', grant.requestId), 'the key server receiving the grant request'),
    grantAnswered: timeOf(byRequest(keyServer?.log ?? [], 'request answered', grant.requestId), 'the key server answering'),
    deploySent: Date.parse(deploy.createdAt),
    deployReceived: timeOf(byRequest(target, 'request received', deploy.requestId), 'the target receiving the deploy request'),
    downloadStarted: timeOf(byDeployment('download started'), 'the download starting'),
    downloaded: timeOf(byDeployment('download progress', (l) => l.percent === 100), 'the last byte downloaded'),
    decrypted: timeOf(byDeployment('release decrypted'), 'the release decrypted'),
    installed: timeOf(byDeployment('release installed'), 'the release installed'),
    succeeded: Date.parse(view.history.find((h: { to: string }) => h.to === 'Succeeded').at),
  };
  return { deploymentId, parts: PARTS.map(([, from, to]) => at[to] - at[from]), total: at.succeeded - at.started };
};

export const deployLatency = async (): Promise<string> => {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const stack = await startLocalStack({ port: 0 });
  const requestsOf = requestRecords(stack.endpoints, stack.env.DIRECTORY_TABLE!);
  const results: { label: string; runs: Awaited<ReturnType<typeof timedDeployment>>[]; load: string }[] = [];
  try {
    for (const size of SIZES.filter((s) => s.runs > 0)) {
      const setup = await secureDeploymentSetup(stack.endpoints, { releaseBytes: size.bytes, say: (line) => console.log(`[${size.label}] ${line}`) });
      try {
        const runs = [];
        for (let i = 0; i < size.runs; i += 1) {
          const run = await timedDeployment(setup, requestsOf, Math.max(120_000, size.bytes / 2 ** 20 * 1000));
          console.log(`[${size.label}] run ${i + 1}: ${ms(run.total)} ms (${run.deploymentId})`);
          runs.push(run);
        }
        results.push({ label: size.label, runs, load: machineLine() });
      } finally {
        await setup.stop();
      }
    }
  } finally {
    await stack.stop();
  }

  const medianOf = (runs: { parts: number[] }[], i: number) => median(runs.map((r) => r.parts[i]!));
  const header = ['Part (median ms)', ...results.map((r) => `${r.label} (${r.runs.length} run${r.runs.length === 1 ? '' : 's'})`)];
  const rows = [
    ...PARTS.map(([what], i) => [what, ...results.map((r) => ms(medianOf(r.runs, i)))]),
    ['queue waits (key server + target, included above)', ...results.map((r) => ms(medianOf(r.runs, 2) + medianOf(r.runs, 5)))],
    ['**End to end** (latchkey deploy → Succeeded)', ...results.map((r) => `**${ms(median(r.runs.map((run) => run.total)))}**`)],
    ['End to end, each run', ...results.map((r) => r.runs.map((run) => ms(run.total)).join(' / '))],
  ];
  return [
    '## End-to-end deploy latency (local stack, real agents)',
    '',
    `Machine: ${machineLine()}. Load average when each size finished: ${results.map((r) => `${r.label}: ${r.load.split('load average ')[1]}`).join('; ')}.`,
    '',
    'A secure release of random bytes (plus a latchkey.yml whose postInstall checks the payload size) is pushed once per size; then it is deployed to `prod` (no approval) with two key servers and one target running as `latchkey-agent run` processes on this machine, the stack in the bench process. Each part is the time between two recorded instants: the request records the backend writes as it sends a request to an agent, the agents\' own log lines (request received and answered, download started, download progress at 100 %, release decrypted, release installed) and the deployment\'s history; medians per part, so the parts need not add up to the median end to end.',
    '',
    table(header, rows),
    '',
    'Download and decryption overlap: the target decrypts each chunk as it arrives, so "download" is the stream from the first request to the last byte (paced by decryption when that is slower) and "decrypt after the last byte" is what decryption adds once the bytes are in; decryption throughput on its own is in the crypto table. The local S3 is an emulator on loopback: in AWS the download is bounded by the target\'s bandwidth to S3 instead, and the queue waits by SQS long polling (which answers as soon as a message arrives).',
  ].join('\n');
};

export const deployLatencyBench: BenchModule = { name: 'deploy-latency', run: deployLatency };

if (isMain(import.meta.url)) await publish('deploy-latency.md', await deployLatency());
