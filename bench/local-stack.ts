/**
 * `npm run bench -- --only local-stack`: what running every function as Lambda runs it costs the
 * local stack (issue 18): each function in its own instance (worker thread, its own bundle and
 * environment) and every AWS call evaluated against its IAM policy. Measured, median of runs:
 * - start-up: from `node local/main.ts --port 0 --json --no-demo` to the endpoints line, with
 *   the synthesized app and the function bundles cached (as every start after the first), and
 *   with the caches cleared (the first start after a change: synth and bundling);
 * - a cold function: the first `POST /accounts` of a fresh stack (its instance starts, its first
 *   AWS calls are evaluated), and the same request once warm; then five more functions (GET
 *   /me, /users, /tokens, /groups, /environments), cold and warm: where the reference shares the
 *   modules its first function loaded, each instance here loads its own;
 * - reference, in the same runs: a tree without any of this (`--reference DIR`, e.g. the
 *   commit before issue 18 checked out with its own node_modules), where every function ran in
 *   the stack's own process with its modules shared.
 * Options: --runs N (5), --reference DIR. Writes bench/reports/local-stack.md.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { isMain, machineLine, ms, publish, table, type BenchModule } from './support/report.ts';
import { median } from './support/stats.ts';

const root = path.resolve(import.meta.dirname, '..');
const CACHES = ['latchkey-local-assembly', 'latchkey-local-bundles'].map((dir) => path.join(root, 'node_modules', '.cache', dir));

type Run = { startMs: number; coldAccountMs: number; warmAccountMs: number; coldReadsMs: number; warmReadsMs: number };

const createAccount = async (api: string) => {
  const started = performance.now();
  const response = await fetch(`${api}/accounts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ accountName: 'Bench', owner: { name: 'Ada', email: `ada-${Math.random().toString(16).slice(2)}@example.com` } }),
  });
  const body = (await response.json()) as { token: { secret: string } };
  if (response.status !== 201) throw new Error(`POST /accounts answered ${response.status}`);
  return { ms: performance.now() - started, token: body.token.secret };
};

/** Five more functions, one request each: GET /me, /users, /tokens, /groups, /environments. */
const READS = ['/me', '/users', '/tokens', '/groups', '/environments'];
const readAll = async (api: string, token: string) => {
  const started = performance.now();
  for (const route of READS) {
    const response = await fetch(`${api}${route}`, { headers: { authorization: `Bearer ${token}` } });
    await response.text();
    if (response.status !== 200) throw new Error(`GET ${route} answered ${response.status}`);
  }
  return performance.now() - started;
};

/** One start of the stack of `tree`: time to its endpoints line, then a cold and a warm POST /accounts. */
const startOnce = async (tree: string): Promise<Run> => {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts', '--port', '0', '--json', '--no-demo'], {
    cwd: tree,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  const stderr: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  try {
    const api = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the stack of ${tree} exited with ${code}: ${stderr.join('')}`)));
      createInterface({ input: child.stdout }).once('line', (line) => resolve((JSON.parse(line) as { endpoints: { api: string } }).endpoints.api));
    });
    const startMs = performance.now() - started;
    const cold = await createAccount(api);
    const warm = await createAccount(api);
    const coldReadsMs = await readAll(api, cold.token);
    const warmReadsMs = await readAll(api, warm.token);
    return { startMs, coldAccountMs: cold.ms, warmAccountMs: warm.ms, coldReadsMs, warmReadsMs };
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
};

export const localStackBench = async ({ runs, reference }: { runs: number; reference?: string }): Promise<string> => {
  const trees: [string, string][] = [['this tree (IAM enforced, an instance per function)', root], ...(reference ? [['reference: ' + path.basename(reference), reference] as [string, string]] : [])];
  const results = new Map<string, Run[]>(trees.map(([name]) => [name, []]));
  // First start of this tree with its caches cleared: the synth and bundling a change costs.
  await Promise.all(CACHES.map((dir) => rm(dir, { recursive: true, force: true })));
  const first = await startOnce(root);
  // Then the trees alternate, so a busy moment of the machine spreads over all of them.
  for (let i = 0; i < runs; i += 1) {
    for (const [name, tree] of trees) results.get(name)!.push(await startOnce(tree));
  }
  const rows = [
    ...trees.map(([name]) => {
      const measured = results.get(name)!;
      const m = (pick: (r: Run) => number) => ms(median(measured.map(pick)));
      return [name, m((r) => r.startMs), m((r) => r.coldAccountMs), m((r) => r.warmAccountMs), m((r) => r.coldReadsMs), m((r) => r.warmReadsMs)];
    }),
    ['this tree, first start after a change (synth + bundles, 1 run)', ms(first.startMs), ms(first.coldAccountMs), ms(first.warmAccountMs), ms(first.coldReadsMs), ms(first.warmReadsMs)],
  ];
  return [
    `## Local stack: start-up and cold functions (median of ${runs} runs)`,
    '',
    `Machine: ${machineLine()}.`,
    '',
    table(
      ['Stack', 'Start-up ms (to the endpoints line)', 'First POST /accounts ms (cold function)', 'Warm POST /accounts ms', `${READS.length} more functions, first request each ms (cold)`, 'The same, warm ms'],
      rows,
    ),
    '',
    'A cold function here starts a worker thread, loads the function bundle, and makes its first AWS calls through the IAM fronts (each decision evaluated once, then kept). A test run starts one stack for the integration suite and one for each file that needs its own; each function pays its cold start once per stack, as on Lambda.',
  ].join('\n');
};

export const localStackBenchModule: BenchModule = { name: 'local-stack', run: () => localStackBench({ runs: 5, ...(process.env.LATCHKEY_BENCH_REFERENCE ? { reference: process.env.LATCHKEY_BENCH_REFERENCE } : {}) }) };

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, reference: { type: 'string' } } });
  await publish('local-stack.md', await localStackBench({ runs: Number(values.runs ?? 5), ...(values.reference ? { reference: values.reference } : {}) }));
}
