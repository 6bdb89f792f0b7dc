/**
 * `npm run bench:cold-start`: a proxy for each Lambda function's cold start. Every function of
 * functions/catalog.ts is bundled with esbuild exactly as the CDK app bundles it
 * (cdk/bundling.ts), with the dependencies layer's packages external and, for comparison,
 * without the layer (everything but the runtime's AWS SDK inside). Reported: the bundle's size
 * both ways, the largest packages inside the deployed (layer) bundle from esbuild's metafile,
 * and module initialisation time: a fresh `node` importing the bundle with the environment its
 * bindings give it in AWS, median of several runs, beside the same import of an empty module in
 * the same runs. Targets: under 300 KB and under 100 ms per function.
 * Options: --runs N (3). Writes bench/reports/cold-start.md.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { build, type Metafile } from 'esbuild';
import { esbuildOptions } from '../cdk/bundling.ts';
import { functions, type FunctionDeclaration, type FunctionName } from '../functions/catalog.ts';
import { boundEnvironment } from './support/function-env.ts';
import { pool } from './support/pool.ts';
import { isMain, machineLine, ms, publish, table, type BenchModule } from './support/report.ts';
import { median } from './support/stats.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
// Inside node_modules so that the bundles' external imports resolve from the repository's
// node_modules, as they resolve from the layer (/opt/nodejs/node_modules) and the runtime in AWS.
const OUT_DIR = path.join(root, 'node_modules', '.cache', 'latchkey-cold-start');

export const TARGET_BYTES = 300_000;
export const TARGET_INIT_MS = 100;

/** The package a bundled file belongs to (`@scope/name` or `name`), or the repository's own code. */
export const packageOf = (input: string): string => {
  const parts = input.split('node_modules/');
  if (parts.length < 2) return '(latchkey code)';
  const rest = parts[parts.length - 1]!.split('/');
  return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
};

/** Bytes in the output per package, largest first. */
export const largestPackages = (metafile: Metafile, outfile: string, top = 3): { name: string; bytes: number }[] => {
  const output = Object.entries(metafile.outputs).find(([file]) => path.resolve(root, file) === outfile)?.[1];
  const byPackage = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    byPackage.set(packageOf(input), (byPackage.get(packageOf(input)) ?? 0) + bytesInOutput);
  }
  return [...byPackage.entries()].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes).slice(0, top);
};

const bundle = async (name: FunctionName, withLayer: boolean) => {
  const outfile = path.join(OUT_DIR, name, withLayer ? 'layer' : 'no-layer', 'index.mjs');
  const result = await build({ ...esbuildOptions({ entry: path.join(root, functions[name].entry), outfile, withLayer }), logLevel: 'error' });
  return { outfile, bytes: (await stat(outfile)).size, metafile: result.metafile! };
};

// The time of the import alone, in a process that has done nothing else; it exits at once, in
// case a module started something that would keep it alive.
// CPU time is given too: on a shared machine it moves less with the load than wall time does.
const IMPORT_TIMER = [
  'const t = performance.now(); const c = process.cpuUsage();',
  'await import(process.argv[1]);',
  'const cpu = process.cpuUsage(c); process.stdout.write(`${performance.now() - t} ${(cpu.user + cpu.system) / 1000}`); process.exit(0);',
].join(' ');

type Timing = { wallMs: number; cpuMs: number };

const importTime = async (url: string, env: Record<string, string>): Promise<Timing> => {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', IMPORT_TIMER, url], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    timeout: 60_000,
  });
  const [wallMs, cpuMs] = stdout.split(' ').map(Number);
  return { wallMs: wallMs!, cpuMs: cpuMs! };
};

/**
 * References timed in the same runs: an empty module (what node itself costs), and what every
 * function loads from outside its bundle: the layer's packages (Powertools, middy, zod) and the
 * AWS SDK's DynamoDB client, each imported alone.
 */
const REFERENCES: Record<string, string> = {
  '(reference: empty module)': 'export default 1;',
  '(reference: layer packages alone)': ['logger', 'tracer', 'metrics'].map((p) => `import '@aws-lambda-powertools/${p}';`).join('') + "import '@middy/core'; import 'zod';",
  '(reference: Powertools tracer alone)': "import '@aws-lambda-powertools/tracer';",
  '(reference: AWS SDK DynamoDB client alone)': "import '@aws-sdk/client-dynamodb'; import '@aws-sdk/lib-dynamodb';",
};

const kb = (bytes: number) => (bytes / 1000).toFixed(1);

export const coldStart = async ({ runs }: { runs: number }): Promise<string> => {
  await rm(OUT_DIR, { recursive: true, force: true });
  await mkdir(OUT_DIR, { recursive: true });
  const names = Object.keys(functions) as FunctionName[];
  const bundles = await pool(names.length, 2, async (i) => {
    const name = names[i]!;
    const [layer, noLayer] = [await bundle(name, true), await bundle(name, false)];
    return { name, layer, noLayer };
  });

  // Runs interleave the functions, so a busy moment of the machine spreads over all of them;
  // the empty module is timed in each run as the reference.
  const references = await Promise.all(
    Object.entries(REFERENCES).map(async ([name, source], i) => {
      const file = path.join(OUT_DIR, 'references', `${i}.mjs`);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, source);
      return { name, url: pathToFileURL(file).href };
    }),
  );
  const times = new Map<string, Timing[]>();
  const keep = (key: string, value: Timing) => times.set(key, [...(times.get(key) ?? []), value]);
  for (let r = 0; r < runs; r += 1) {
    for (const reference of references) keep(reference.name, await importTime(reference.url, { AWS_REGION: 'us-east-1' }));
    for (const b of bundles) keep(b.name, await importTime(pathToFileURL(b.layer.outfile).href, boundEnvironment(functions[b.name] as FunctionDeclaration)));
  }
  await rm(OUT_DIR, { recursive: true, force: true });

  const initOf = (key: string) => median((times.get(key) ?? []).map((t) => t.wallMs));
  const cpuOf = (key: string) => median((times.get(key) ?? []).map((t) => t.cpuMs));
  const referenceRows = references.map((r) => `- ${r.name.slice(1, -1)}: ${ms(initOf(r.name))} ms (CPU ${ms(cpuOf(r.name))} ms)`);
  const rows = bundles.map((b) => {
    const init = initOf(b.name);
    const misses = [b.layer.bytes >= TARGET_BYTES ? 'size' : '', init >= TARGET_INIT_MS ? 'init' : ''].filter(Boolean);
    return {
      name: b.name,
      misses,
      row: [
        b.name,
        kb(b.layer.bytes),
        kb(b.noLayer.bytes),
        ms(init),
        ms(cpuOf(b.name)),
        largestPackages(b.layer.metafile, b.layer.outfile).map((p) => `${p.name} ${kb(p.bytes)}`).join(', '),
        misses.length ? `**misses ${misses.join(' and ')}**` : 'ok',
      ],
    };
  });
  const missing = rows.filter((r) => r.misses.length);
  const sizes = bundles.map((b) => b.layer.bytes);
  const inits = bundles.map((b) => initOf(b.name));
  return [
    `## Lambda cold start proxy (${bundles.length} functions; init = median of ${runs} runs)`,
    '',
    `Machine: ${machineLine()}. Bundles: esbuild ${'with the options of cdk/bundling.ts'} (ESM, minified, node24 target, source map beside, AWS SDK external; "layer" = the dependencies layer's packages external too, as deployed). Init: \`node --enable-source-maps\` importing the layer bundle in a fresh process with only its bindings' environment, timed around the import; the layer's packages and the SDK load from node_modules as they load from /opt and the runtime in AWS. KB = 1,000 bytes. Targets: < ${TARGET_BYTES / 1000} KB and < ${TARGET_INIT_MS} ms (wall). References timed in the same runs, each in a fresh process:`,
    '',
    ...referenceRows,
    '',
    ...(['size', 'init'] as const).map((target) => {
      const missed = missing.filter((r) => r.misses.includes(target)).map((r) => r.name);
      const what = target === 'size' ? `the size target (largest bundle ${kb(Math.max(...sizes))} KB)` : `the init target (fastest ${ms(Math.min(...inits))} ms, slowest ${ms(Math.max(...inits))} ms)`;
      if (missed.length === 0) return `- **Every function meets ${what}.**`;
      return `- **${missed.length === rows.length ? `All ${rows.length} functions miss` : `${missed.length} of ${rows.length} functions miss`} ${what}**${missed.length === rows.length ? '' : `: ${missed.join(', ')}`}.`;
    }),
    '',
    `Where init goes: the layer's packages alone take ${ms(initOf('(reference: layer packages alone)'))} ms (the Powertools tracer ${ms(initOf('(reference: Powertools tracer alone)'))} ms of it) and the DynamoDB client ${ms(initOf('(reference: AWS SDK DynamoDB client alone)'))} ms, before a function's own code runs; a function that uses both cannot meet ${TARGET_INIT_MS} ms here unless it loads less at init.`,
    '',
    table(['Function', 'KB (layer)', 'KB (no layer)', 'Init ms', 'Init CPU ms', 'Largest packages in the bundle (KB)', 'Targets'], rows.map((r) => r.row)),
    '',
    'Init here is on this machine\'s x86 cores under Node ' + process.versions.node + '; Lambda runs Node 24 on arm64 with a CPU share proportional to memory (256 MB ≈ 1/7 of a vCPU), so the cloud\'s init is slower by a factor this proxy does not measure.',
  ].join('\n');
};

export const coldStartBench: BenchModule = { name: 'cold-start', run: () => coldStart({ runs: 3 }) };

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } });
  await publish('cold-start.md', await coldStart({ runs: Number(values.runs ?? 3) }));
}
