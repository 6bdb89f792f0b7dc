/**
 * `npm run bench -- --only key-server-failover`: what a dead key server that is still listed
 * online costs a push and a deployment (issue: "failover in seconds"). Two key servers and a target
 * run as real `latchkey-agent` processes against the local stack; each round pushes a 1 MiB secure
 * release with the real CLI and deploys it (`POST /deployments` to Succeeded). First with both key
 * servers alive, then with one killed (SIGKILL): the stack counts agents online for an hour here,
 * so the dead one stays listed for every run — the worst case of the online window. Which key
 * server the pusher and the workflow ask first is random, so the table also shows the runs in
 * which the dead one was asked first (those pay the acknowledgement timeout). Writes
 * bench/reports/key-server-failover.md.
 */
import { startLocalStack } from '#local/stack.ts';
import { apiClient, expectStatus } from './support/api-client.ts';
import { isMain, machineLine, ms, publish, table, type BenchModule } from './support/report.ts';
import { requestRecords } from './support/request-records.ts';
import { secureDeploymentSetup } from './support/secure-deployment.ts';
import { median } from './support/stats.ts';
import { poll } from './support/workflow.ts';

const RUNS = Number(process.env.BENCH_FAILOVER_RUNS ?? 6);
const ACK_SECONDS = 5;

type Sample = { pushMs: number; deployMs: number; deadAskedFirst: { push: boolean; deploy: boolean } };

export const keyServerFailover = async (): Promise<string> => {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.env.AGENT_ONLINE_SECONDS = '3600';
  process.env.AGENT_ACK_SECONDS = String(ACK_SECONDS);
  const stack = await startLocalStack({ port: 0 });
  const requests = requestRecords(stack.endpoints, stack.env.DIRECTORY_TABLE!);
  const requestsSince = (accountId: string, since: number) => requests(accountId, new Date(since).toISOString());
  const results: Record<'alive' | 'dead', Sample[]> = { alive: [], dead: [] };
  let load: string | undefined;
  try {
    const setup = await secureDeploymentSetup(stack.endpoints, { releaseBytes: 2 ** 20, say: (line) => console.log(line) });
    try {
      const client = apiClient(setup.endpoint).as(setup.ownerToken);
      const dead = setup.keyServers[1]!;
      const round = async (label: 'alive' | 'dead', i: number): Promise<Sample> => {
        const pushStarted = Date.now();
        const release = await setup.pushRelease(`${label}.${i}`);
        const pushMs = Date.now() - pushStarted;
        const sealAsked = (await requestsSince(setup.accountId, pushStarted)).find((r) => r.type === 'rewrap-release-key');
        const deployStarted = Date.now();
        const { deploymentId } = expectStatus(await client('POST', '/deployments', { ...setup.deployment, releaseId: release.releaseId }), 201, 'start the deployment');
        const ended = await poll(
          `deployment ${deploymentId} to end`,
          async () => {
            const now = expectStatus(await client('GET', `/deployments/${deploymentId}`), 200, 'read the deployment');
            return ['Succeeded', 'Failed'].includes(now.state) ? now : undefined;
          },
          120_000,
        );
        if (ended.state !== 'Succeeded') throw new Error(`deployment ${deploymentId} ended ${ended.state}: ${ended.outcome?.reason ?? ''}`);
        const deployMs = Date.now() - deployStarted;
        const grantAsked = (await requestsSince(setup.accountId, deployStarted)).find((r) => r.type === 'deploy' && r.agentId !== setup.target.agentId);
        const sample = { pushMs, deployMs, deadAskedFirst: { push: sealAsked?.agentId === dead.agentId, deploy: grantAsked?.agentId === dead.agentId } };
        console.log(`[${label} ${i + 1}] push ${ms(pushMs)} ms${sample.deadAskedFirst.push ? ' (dead asked first)' : ''}, deploy ${ms(deployMs)} ms${sample.deadAskedFirst.deploy ? ' (dead asked first)' : ''}`);
        return sample;
      };
      for (let i = 0; i < RUNS; i += 1) results.alive.push(await round('alive', i));
      await dead.kill('SIGKILL');
      for (let i = 0; i < RUNS; i += 1) results.dead.push(await round('dead', i));
      load = machineLine();
    } finally {
      await setup.stop();
    }
  } finally {
    await stack.stop();
  }

  const med = (samples: Sample[], pick: (s: Sample) => number) => (samples.length ? ms(median(samples.map(pick))) : '–');
  const max = (samples: Sample[], pick: (s: Sample) => number) => (samples.length ? ms(Math.max(...samples.map(pick))) : '–');
  const deadFirstPush = results.dead.filter((s) => s.deadAskedFirst.push);
  const deadFirstDeploy = results.dead.filter((s) => s.deadAskedFirst.deploy);
  const rows = [
    ['push 1 MiB secure release (CLI, start to exit), median', med(results.alive, (s) => s.pushMs), med(results.dead, (s) => s.pushMs), `${med(deadFirstPush, (s) => s.pushMs)} (${deadFirstPush.length} of ${RUNS})`],
    ['push, slowest run', max(results.alive, (s) => s.pushMs), max(results.dead, (s) => s.pushMs), max(deadFirstPush, (s) => s.pushMs)],
    ['deploy (POST /deployments → Succeeded), median', med(results.alive, (s) => s.deployMs), med(results.dead, (s) => s.deployMs), `${med(deadFirstDeploy, (s) => s.deployMs)} (${deadFirstDeploy.length} of ${RUNS})`],
    ['deploy, slowest run', max(results.alive, (s) => s.deployMs), max(results.dead, (s) => s.deployMs), max(deadFirstDeploy, (s) => s.deployMs)],
  ];
  return [
    '## Push and deploy with a dead key server still listed online',
    '',
    `Machine: ${load ?? machineLine()}. ${RUNS} rounds each, in the same run.`,
    '',
    `Two key servers and one target as \`latchkey-agent run\` processes; each round pushes a 1 MiB secure release with the CLI and deploys it to \`prod\` (no approval). Then one key server is killed (SIGKILL) and stays listed online for the rest of the run (AGENT_ONLINE_SECONDS=3600 here: the worst case of the online window). A key server acknowledges a request as it takes it; the pusher and the workflow pass over one that has not within ${ACK_SECONDS} s (AGENT_ACK_SECONDS) and ask the next, and from then on it counts as offline until its next heartbeat (which a dead one never sends): only the first request after a death can pay the acknowledgement time, and only when the dead key server happens to be asked first (the choice is random). The last column keeps those rounds. Times in ms.`,
    '',
    table(['', '0 dead', '1 dead (all rounds)', '1 dead, asked first'], rows),
    '',
    `Before acknowledgements, a dead key server asked first cost a push the whole \`--seal-timeout\` (20 s) and a deployment the whole grant timeout (30 s), for as long as it stayed listed online (90 s).`,
  ].join('\n');
};

export const keyServerFailoverBench: BenchModule = { name: 'key-server-failover', run: keyServerFailover };

if (isMain(import.meta.url)) await publish('key-server-failover.md', await keyServerFailover());
