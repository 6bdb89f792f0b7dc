/**
 * `npm run bench:cold-start`: a proxy for each Lambda function's cold start. Every function of
 * functions/catalog.ts is bundled with esbuild exactly as the CDK app bundles it
 * (cdk/bundling.ts), with the dependencies layer's packages external and, for comparison,
 * without the layer (everything but the runtime's AWS SDK inside). The layer is built as
 * `cdk synth` builds it (layers/dependencies/build.ts: prebundled, with the AWS SDK clients the
 * functions use) and each bundle is placed beside it, so its imports resolve to the layer as
 * they resolve to /opt/nodejs/node_modules in AWS. Reported: the bundle's size both ways, the
 * largest packages inside the deployed (layer) bundle from esbuild's metafile, and module
 * initialisation time: a fresh `node` importing the bundle with the environment its bindings
 * give it in AWS (source maps on, as deployed) and the same without source maps, median of
 * several runs, beside references timed in the same runs. Targets: under 300 KB and under
 * 100 ms per function.
 * Options: --runs N (3). Writes bench/reports/cold-start.md.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { build, type Metafile } from 'esbuild';
import { esbuildOptions } from '../cdk/bundling.ts';
import { buildDependenciesLayer, type LayerManifest } from '../layers/dependencies/build.ts';
import { functions, type FunctionDeclaration, type FunctionName } from '../functions/catalog.ts';
import { boundEnvironment } from './support/function-env.ts';
import { pool } from './support/pool.ts';
import { isMain, machineLine, ms, publish, table, type BenchModule } from './support/report.ts';
import { median } from './support/stats.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
// Inside node_modules so that what the layer does not provide resolves from the repository's
// node_modules, as it would from the runtime in AWS.
const OUT_DIR = path.join(root, 'node_modules', '.cache', 'latchkey-cold-start');
// The layer's /opt: bundles placed under LAYER_DIR/nodejs find LAYER_DIR/nodejs/node_modules first.
const LAYER_DIR = path.join(OUT_DIR, 'layer');

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
  const outfile = withLayer ? path.join(LAYER_DIR, 'nodejs', 'functions', name, 'index.mjs') : path.join(OUT_DIR, 'no-layer', name, 'index.mjs');
  const result = await build({ ...esbuildOptions({ entry: path.join(root, functions[name].entry), outfile, withLayer }), logLevel: 'error' });
  const loaded = withLayer ? await layerFilesLoaded(outfile, path.join(LAYER_DIR, 'nodejs', 'node_modules')) : new Map<string, number>();
  return { outfile, bytes: (await stat(outfile)).size, loaded, metafile: result.metafile! };
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

const DYNAMODB = "import '@aws-sdk/client-dynamodb'; import '@aws-sdk/lib-dynamodb';";
const EVERY_FUNCTION =
  "import '@aws-lambda-powertools/logger'; import '@aws-lambda-powertools/logger/middleware'; import '@middy/core'; import 'zod';";

/**
 * References timed in the same runs: an empty module (what node itself costs), what the
 * functions load from the layer, each alone, and for comparison the DynamoDB client as the
 * runtime provides it (the CommonJS packages from node_modules, not the layer).
 */
const REFERENCES: Record<string, { source: string; fromLayer: boolean } | { entry: string }> = {
  '(reference: empty module)': { source: 'export default 1;', fromLayer: false },
  '(reference: what every function loads from the layer: Powertools logger, middy, zod)': { source: EVERY_FUNCTION, fromLayer: true },
  '(reference: the same packages as CommonJS files from node_modules, as the layer served them before it was prebundled)': { source: EVERY_FUNCTION, fromLayer: false },
  '(reference: zod from the layer)': { source: "import 'zod';", fromLayer: true },
  '(reference: zod from the layer and one schema built)': { source: "import { z } from 'zod'; z.strictObject({ name: z.string().min(1) });", fromLayer: true },
  // Bundled like a function (the layer external): what every API route pays for the table.
  '(reference: the route table with every schema it imports, functions/api/routes.ts and shared/protocol)': { entry: 'functions/api/routes.ts' },
  '(reference: DynamoDB client from the layer)': { source: DYNAMODB, fromLayer: true },
  '(reference: DynamoDB client from the runtime\'s CommonJS SDK)': { source: DYNAMODB, fromLayer: false },
};

const kb = (bytes: number) => (bytes / 1000).toFixed(1);

/** Bytes of JavaScript in a directory tree (the layer's modules and chunks). */
const bytesOfModules = async (dir: string): Promise<number> => {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  const sizes = await Promise.all(entries.filter((e) => e.isFile() && e.name.endsWith('.mjs')).map(async (e) => (await stat(path.join(e.parentPath, e.name))).size));
  return sizes.reduce((a, b) => a + b, 0);
};

/**
 * The layer files a bundle loads at init, with their sizes, by path under the layer's
 * node_modules: the static imports of the bundle, followed through the layer's modules and
 * chunks (dynamic imports, loaded only when called, are not).
 */
export const layerFilesLoaded = async (bundle: string, layerModules: string): Promise<Map<string, number>> => {
  const seen = new Map<string, number>();
  const resolveImport = async (from: string, specifier: string): Promise<string | undefined> => {
    if (specifier.startsWith('.')) return path.resolve(path.dirname(from), specifier);
    if (specifier.startsWith('node:')) return undefined;
    const parts = specifier.split('/');
    const length = specifier.startsWith('@') ? 2 : 1;
    const dir = path.join(layerModules, ...parts.slice(0, length));
    const manifest = await readFile(path.join(dir, 'package.json'), 'utf8').catch(() => undefined);
    const target = manifest && (JSON.parse(manifest) as { exports: Record<string, string> }).exports[parts.length > length ? `./${parts.slice(length).join('/')}` : '.'];
    return target ? path.join(dir, target) : undefined;
  };
  const visit = async (file: string): Promise<void> => {
    if (seen.has(file)) return;
    const code = await readFile(file, 'utf8');
    seen.set(file, code.length);
    for (const [, specifier] of code.matchAll(/(?:^|[;}\s])(?:import|export)\s*(?:[\w$*{][^"';]*?from\s*)?["']([^"']+)["']/g)) {
      const next = await resolveImport(file, specifier!);
      if (next) await visit(next);
    }
  };
  await visit(bundle);
  seen.delete(bundle);
  return new Map([...seen.entries()].map(([file, bytes]) => [path.relative(layerModules, file).split(path.sep).join('/'), bytes]));
};

/** Bytes per package a function loads at init, its bundle and the layer files together, largest first. */
const packagesLoaded = (own: { name: string; bytes: number }[], loaded: Map<string, number>, files: LayerManifest['files'], top = 4) => {
  const byPackage = new Map(own.map((p) => [p.name, p.bytes]));
  for (const file of loaded.keys()) {
    for (const [name, bytes] of Object.entries(files[file] ?? {})) byPackage.set(name, (byPackage.get(name) ?? 0) + bytes);
  }
  return [...byPackage.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
};

export const coldStart = async ({ runs }: { runs: number }): Promise<string> => {
  await rm(OUT_DIR, { recursive: true, force: true });
  await mkdir(OUT_DIR, { recursive: true });
  const layer = buildDependenciesLayer({ outDir: LAYER_DIR });
  const layerBytes = await bytesOfModules(path.join(LAYER_DIR, 'nodejs', 'node_modules'));
  const names = Object.keys(functions) as FunctionName[];
  const bundles = await pool(names.length, 2, async (i) => {
    const name = names[i]!;
    const [layer, noLayer] = [await bundle(name, true), await bundle(name, false)];
    return { name, layer, noLayer };
  });

  // Runs interleave the functions, so a busy moment of the machine spreads over all of them;
  // the empty module is timed in each run as the reference.
  const references = await Promise.all(
    Object.entries(REFERENCES).map(async ([name, reference], i) => {
      const file = path.join('entry' in reference || reference.fromLayer ? path.join(LAYER_DIR, 'nodejs') : OUT_DIR, 'references', `${i}.mjs`);
      await mkdir(path.dirname(file), { recursive: true });
      if ('entry' in reference) await build({ ...esbuildOptions({ entry: path.join(root, reference.entry), outfile: file, withLayer: true }), logLevel: 'error' });
      else await writeFile(file, reference.source);
      return { name, url: pathToFileURL(file).href };
    }),
  );
  const times = new Map<string, Timing[]>();
  const keep = (key: string, value: Timing) => times.set(key, [...(times.get(key) ?? []), value]);
  for (let r = 0; r < runs; r += 1) {
    for (const reference of references) keep(reference.name, await importTime(reference.url, { AWS_REGION: 'us-east-1' }));
    for (const b of bundles) {
      const env = boundEnvironment(functions[b.name] as FunctionDeclaration);
      keep(b.name, await importTime(pathToFileURL(b.layer.outfile).href, env));
      const { NODE_OPTIONS: _, ...withoutMaps } = env;
      keep(`${b.name} (no source maps)`, await importTime(pathToFileURL(b.layer.outfile).href, withoutMaps));
    }
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
        kb([...b.layer.loaded.values()].reduce((x, y) => x + y, 0)),
        ms(init),
        ms(cpuOf(b.name)),
        ms(initOf(`${b.name} (no source maps)`)),
        packagesLoaded(largestPackages(b.layer.metafile, b.layer.outfile, Infinity), b.layer.loaded, layer.files).map(([name, bytes]) => `${name} ${kb(bytes)}`).join(', '),
        misses.length ? `**misses ${misses.join(' and ')}**` : 'ok',
      ],
    };
  });
  const missing = rows.filter((r) => r.misses.length);
  const sizes = bundles.map((b) => b.layer.bytes);
  const inits = bundles.map((b) => initOf(b.name));
  const withoutMaps = bundles.map((b) => initOf(b.name) - initOf(`${b.name} (no source maps)`));
  return [
    `## Lambda cold start proxy (${bundles.length} functions; init = median of ${runs} runs)`,
    '',
    `Machine: ${machineLine()}. Bundles: esbuild with the options of cdk/bundling.ts (ESM, minified, node24 target, source map beside; "layer" = the dependencies layer's modules and the AWS SDK external, as deployed; "no layer" = only the AWS SDK external). The layer is built by layers/dependencies/build.ts as \`cdk synth\` builds it: one minified ESM module per package the functions import (Powertools, middy, zod and the AWS SDK clients), each re-exporting only the names the functions use, over shared chunks: ${Object.keys(layer.modules).length} modules, ${kb(layerBytes)} KB of JavaScript from ${layer.packages.length} packages; the layer is not counted in a function's size. Init: a fresh \`node\` importing the layer bundle with only its bindings' environment (NODE_OPTIONS=--enable-source-maps, as the CDK construct sets it), timed around the import; the bundle sits beside the layer so its imports resolve to the layer's modules, as they resolve to /opt/nodejs/node_modules in AWS, which Lambda searches before the runtime's SDK (NODE_PATH order; not yet confirmed on a deployed function for ES module imports). "Layer KB loaded" = the layer modules and chunks the bundle imports statically at init. KB = 1,000 bytes. Targets: < ${TARGET_BYTES / 1000} KB and < ${TARGET_INIT_MS} ms (wall, with source maps). References timed in the same runs, each in a fresh process:`,
    '',
    ...referenceRows,
    '',
    ...(['size', 'init'] as const).map((target) => {
      const missed = missing.filter((r) => r.misses.includes(target)).map((r) => r.name);
      const what = target === 'size' ? `the size target (largest bundle ${kb(Math.max(...sizes))} KB)` : `the init target (fastest ${ms(Math.min(...inits))} ms, slowest ${ms(Math.max(...inits))} ms)`;
      if (missed.length === 0) return `- **Every function meets ${what}.**`;
      return `- **${missed.length === rows.length ? `All ${rows.length} functions miss` : `${missed.length} of ${rows.length} functions miss`} ${what}**${missed.length === rows.length ? '' : `: ${missed.join(', ')}`}.`;
    }),
    `- Source maps (NODE_OPTIONS=--enable-source-maps) cost a median ${ms(median(withoutMaps))} ms of init per function here: only the function's own map is read, the layer ships none.`,
    '',
    "Where init goes: mostly into parsing and compiling JavaScript, so it grows with the code a function loads (\"Layer KB loaded\" plus its own bundle), and into building zod schemas. Every function loads the Powertools logger, middy and zod (the Powertools tracer and the X-Ray SDK are gone: Lambda's active tracing needs neither, issue 18); one using DynamoDB adds the client, which with them is most of what a function costs (see the references); the S3 SDK loads only in functions bound to the bucket, and its presigner only when a function first signs a URL; the SES client only in functions bound to mail; the STS client only when the session route first issues credentials (functions/adapters/aws-clients.ts, agent-credentials.ts). What remains beyond the references: every API route builds the schemas of the whole route table when it loads (functions/api/routes.ts and shared/protocol; see its reference, and the one-schema reference for what the first schema costs whatever the table holds), not only its own route's. The openapi function serves a document generated before bundling (functions/api/openapi.json).",
    '',
    table(['Function', 'KB (layer)', 'KB (no layer)', 'Layer KB loaded', 'Init ms', 'Init CPU ms', 'Init ms without source maps', 'Largest packages loaded at init, bundle and layer (KB)', 'Targets'], rows.map((r) => r.row)),
    '',
    'Init here is on this machine\'s x86 cores under Node ' + process.versions.node + '; Lambda runs Node 24 on arm64 with a CPU share proportional to memory (256 MB ≈ 1/7 of a vCPU), so the cloud\'s init is slower by a factor this proxy does not measure.',
  ].join('\n');
};

export const coldStartBench: BenchModule = { name: 'cold-start', run: () => coldStart({ runs: 3 }) };

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } });
  await publish('cold-start.md', await coldStart({ runs: Number(values.runs ?? 3) }));
}
