/**
 * `npm run bench -- --only cli-startup`: how long the binaries take to start (issue 21). The
 * packages are built as `npm run package` builds them and installed offline into an empty prefix;
 * each command is a fresh process timed from spawn to exit (wall), median of several runs,
 * interleaved so a busy moment of the machine spreads over all of them, with `node -e 0` (what
 * Node itself costs) timed in the same runs. `latchkey status ID` runs against a local stack
 * (its own process, on free ports) for a deployment made through the packaged CLI; from it is
 * taken one round trip: the API calls status makes (at once), each on a new connection as the
 * CLI's are, from this process, timed in the same runs. Targets: `latchkey --version` under 150 ms; `latchkey status ID` one
 * round trip plus under 150 ms.
 * Options: --runs N (7). Writes bench/reports/cli-startup.md.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { run as runInProcess } from '../cli/program.ts';
import { writeDemoRelease } from '../local/demo/release-fixture.ts';
import { buildPackages } from '../packaging/build.ts';
import { isMain, machineLine, ms, publish, table, type BenchModule } from './support/report.ts';
import { startStackProcess } from './support/stack-process.ts';
import { median } from './support/stats.ts';

const root = path.resolve(import.meta.dirname, '..');
export const TARGET_MS = 150;

type Command = { command: string; args: string[]; env?: Record<string, string> };

/** Runs a command to its end; its output, or an error holding it. */
const exec = (c: Command, input?: string) =>
  new Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>((resolve, reject) => {
    const started = performance.now();
    const child = spawn(c.command, c.args, { cwd: tmpdir(), env: c.env ?? { PATH: process.env.PATH ?? '' }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    child.stdin?.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });

const mustRun = async (c: Command, input?: string) => {
  const result = await exec(c, input);
  if (result.code !== 0) throw new Error(`${path.basename(c.command)} ${c.args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  return result;
};

/** One GET on a connection of its own (no keep-alive pool), as a CLI process makes its first request. */
const roundTrip = (url: string, token: string) =>
  new Promise<number>((resolve, reject) => {
    const started = performance.now();
    http
      .get(url, { agent: false, headers: { authorization: `Bearer ${token}` } }, (response) => {
        response.resume();
        response.once('end', () => resolve(performance.now() - started));
      })
      .once('error', reject);
  });

export const cliStartup = async ({ runs }: { runs: number }): Promise<string> => {
  const work = await mkdtemp(path.join(tmpdir(), 'latchkey-cli-startup-'));
  const stack = await startStackProcess();
  try {
    // 1. The packages, installed as a person would, into an empty prefix.
    const built = await buildPackages({ outDir: path.join(work, 'dist') });
    const prefix = path.join(work, 'prefix');
    const nodeDir = path.dirname(process.execPath);
    const PATH = `${path.join(prefix, 'bin')}:${nodeDir}:/usr/bin:/bin`;
    for (const tarball of Object.values(built.tarballs)) {
      await mustRun({ command: 'npm', args: ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball], env: { PATH, HOME: work, npm_config_cache: path.join(work, 'npm-cache'), npm_config_update_notifier: 'false' } });
    }
    const latchkey = path.join(prefix, 'bin', 'latchkey');

    // 2. A deployment to look at, made through the packaged CLI: a plain app, one release, an environment without approval.
    const home = path.join(work, 'owner');
    await mkdir(home);
    const env = { PATH, HOME: home, LATCHKEY_CONFIG: path.join(home, 'latchkey.json'), LATCHKEY_ENDPOINT: stack.endpoints.api };
    const cli = async <T>(args: string[]) => JSON.parse((await mustRun({ command: latchkey, args: [...args, '--json'], env })).stdout) as T;
    await cli(['signup', '--account', 'Bench', '--name', 'Ada Lovelace', '--email', 'ada@example.com']);
    await cli(['envs', 'create', 'dev']);
    await cli(['apps', 'create', 'web']);
    const source = path.join(work, 'release');
    await writeDemoRelease(source);
    await cli(['push', 'web', source, '--version', '1.0.0']);
    const { deploymentId } = await cli<{ deploymentId: string }>(['deploy', 'web', '1.0.0', 'dev']);
    const { token } = JSON.parse(await readFile(env.LATCHKEY_CONFIG, 'utf8')) as { token: string };

    // How many API calls `status ID` makes: the same command line in-process, its fetch counted.
    let calls = 0;
    await runInProcess(['status', deploymentId], {
      stdout: () => {},
      stderr: () => {},
      env,
      fetch: (input, init) => ((calls += 1), globalThis.fetch(input, init)),
      readSecret: () => Promise.reject(new Error('no secret here')),
    });

    // 3. The timings.
    const commands: Record<string, Command> = {
      'node -e 0 (reference)': { command: process.execPath, args: ['-e', '0'] },
      'latchkey --version (packaged)': { command: latchkey, args: ['--version'], env },
      'latchkey-agent --version (packaged)': { command: path.join(prefix, 'bin', 'latchkey-agent'), args: ['--version'], env },
      'latchkey --version (dev: cli/bin/latchkey.js, tsx)': { command: process.execPath, args: [path.join(root, 'cli/bin/latchkey.js'), '--version'], env },
      'latchkey status ID (packaged, local stack)': { command: latchkey, args: ['status', deploymentId], env },
    };
    // What `status ID` waits for: its calls at once, each on a new connection; the slower one ends the wait.
    const ROUND_TRIP = 'one round trip to the stack: status\'s calls at once, new connections (GET /deployments/ID, GET /users, GET /me, GET /agents)';
    const paths = [`/deployments/${deploymentId}`, '/users?limit=100', '/me', '/agents?limit=100'];
    const times = new Map<string, number[]>();
    const keep = (name: string, value: number) => times.set(name, [...(times.get(name) ?? []), value]);
    for (const c of Object.values(commands)) await mustRun(c); // warm the page cache, check each works
    for (let r = 0; r < runs; r += 1) {
      for (const [name, c] of Object.entries(commands)) keep(name, (await mustRun(c)).ms);
      keep(ROUND_TRIP, Math.max(...(await Promise.all(paths.map((p) => roundTrip(`${stack.endpoints.api}${p}`, token))))));
    }
    const of = (name: string) => median(times.get(name) ?? []);
    const node = of('node -e 0 (reference)');
    const status = of('latchkey status ID (packaged, local stack)');
    const trip = of(ROUND_TRIP);
    const kb = (bytes: number) => (bytes / 1000).toFixed(0);
    const verdict = (value: number) => (value < TARGET_MS ? 'ok' : `**misses ${TARGET_MS} ms**`);
    const rows = Object.keys(commands).map((name) => {
      const value = of(name);
      const target = name.startsWith('latchkey --version (packaged)') ? verdict(value) : '';
      return [name, ms(value), ms(value - node), target];
    });
    rows.push([ROUND_TRIP, ms(trip), '', '']);
    rows.push([`latchkey status ID minus one round trip (its ${calls} API calls go out together)`, ms(status - trip), ms(status - trip - node), verdict(status - trip)]);
    const sizes = await Promise.all(Object.entries(built.tarballs).map(async ([name, file]) => `${name} ${((await stat(file)).size / 1000).toFixed(0)} KB`));

    return [
      `## CLI and agent start-up (median of ${runs} runs)`,
      '',
      `Measured ${new Date().toISOString()}. Machine: ${machineLine()}. Each row is a fresh process, spawn to exit (wall), the commands interleaved in every run. Packaged = the npm tarballs of \`npm run package\` (${sizes.join(', ')}) installed offline into an empty prefix and run as installed (\`#!/usr/bin/env node\`, one minified entry file each, and the chunks only some commands load). Dev = the repository's bin, which compiles the TypeScript sources through tsx at every start. \`status\` runs against the local stack in a process of its own; the round trip is timed from this process on a new connection, in the same runs. Targets: \`latchkey --version\` < ${TARGET_MS} ms; \`latchkey status ID\` one round trip + < ${TARGET_MS} ms.`,
      '',
      table(['Command', 'ms', 'ms beyond node -e 0', 'Target'], rows),
      '',
      `Where a packaged start goes: Node itself (the reference), then compiling what every command loads (${kb(built.bytesAtStart.latchkey)} KB for the CLI, ${kb(built.bytesAtStart['latchkey-agent'])} KB for the agent; V8 compiles lazily, and minified it starts ~50 ms sooner), then evaluating its modules (zod schemas, commander). Split off into chunks that load on first use, so other commands never compile them: \`push\`'s tar, release pipeline and HPKE, the passkeys' WebAuthn/X.509 stack (~60 ms when it was in the start), the agent's SQS client. \`status\` then pays its calls (the deployment, its people, and what checking receipts reads, at once) on Node's http module — Node's fetch is undici, compiled on first use — and the answer's checks and formatting.`,
    ].join('\n');
  } finally {
    await stack.stop();
    await rm(work, { recursive: true, force: true });
  }
};

export const cliStartupBench: BenchModule = { name: 'cli-startup', run: () => cliStartup({ runs: 7 }) };

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } });
  await publish('cli-startup.md', await cliStartup({ runs: Number(values.runs ?? 7) }));
}
