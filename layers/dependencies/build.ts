/**
 * Builds the dependencies layer OFFLINE from the repository's `node_modules` (installed from the
 * lock file) into `layers/dependencies/build/nodejs/node_modules/`, the layout Lambda expects
 * under /opt. The layer is PREBUNDLED: every module the functions import from outside their
 * bundles (the layer packages, and the AWS SDK clients, which would otherwise come from the
 * runtime) is one small ESM entry re-exporting exactly the names the functions use, and
 * the code behind them is minified into shared chunks. Loading a few tree-shaken files costs a
 * fraction of resolving and compiling the hundreds of CommonJS files the packages ship
 * (bench/reports/cold-start.md).
 *
 *   npx tsx layers/dependencies/build.ts     # (re)build and print a summary
 *
 * The CDK app calls `ensureDependenciesLayer()`, which rebuilds only when the lock file or the
 * names the functions import differ from the last build, so `cdk synth` and the CDK tests never
 * see a stale layer.
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { functions } from '../../functions/catalog.ts';
import { layerPackages, runtimeProvidedPackages } from './packages.ts';

const here = dirname(fileURLToPath(import.meta.url));

/** Repository root (the directory holding `node_modules` and `package-lock.json`). */
export const repoRoot = resolve(here, '../..');

/** Where the layer is built; the directory handed to `lambda.Code.fromAsset`. Git-ignored. */
export const layerBuildDir = join(here, 'build');

/** Name of the manifest written at the layer root (it lands at /opt/latchkey-layer.json). */
export const manifestFileName = 'latchkey-layer.json';

export type LayerPackage = {
  name: string;
  version: string;
  /** Directory relative to the repository's `node_modules`, e.g. `a/node_modules/b` when nested. */
  path: string;
};

type PackageJson = {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};

const readPackageJson = (dir: string): PackageJson =>
  JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;

/** Node's lookup: `<dir>/node_modules/<name>`, then each parent directory up to the root. */
const findPackageDir = (fromDir: string, name: string, root: string): string | undefined => {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || !dir.startsWith(root)) return undefined;
    dir = dirname(dir);
  }
};

/**
 * The layer packages and everything they need at run time: `dependencies`, installed
 * `optionalDependencies` and non-optional peers, resolved the way Node resolves them, so nested
 * copies (e.g. an older `@aws-lambda-powertools/commons` under `idempotency`) keep their place.
 */
export const resolveLayerClosure = (
  root: string = repoRoot,
  roots: readonly string[] = layerPackages,
): LayerPackage[] => {
  const nodeModules = join(root, 'node_modules');
  const found = new Map<string, LayerPackage>();
  const visit = (fromDir: string, name: string, optional: boolean, requiredBy: string): void => {
    const dir = findPackageDir(fromDir, name, root);
    if (dir === undefined) {
      if (optional) return;
      throw new Error(`dependencies layer: ${name} (needed by ${requiredBy}) is not installed; run npm ci`);
    }
    const path = relative(nodeModules, dir).split(sep).join('/');
    if (found.has(path)) return;
    const pkg = readPackageJson(dir);
    found.set(path, { name: pkg.name, version: pkg.version, path });
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dir, dep, false, pkg.name);
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(dir, dep, true, pkg.name);
    for (const dep of Object.keys(pkg.peerDependencies ?? {})) {
      if (pkg.peerDependenciesMeta?.[dep]?.optional === true) continue;
      visit(dir, dep, false, pkg.name);
    }
  };
  for (const name of roots) visit(root, name, false, 'the layer');
  return [...found.values()].sort((a, b) => a.path.localeCompare(b.path));
};

/** Every package name the layer provides: a function bundle must leave all of them external. */
export const layerProvidedModules = (root: string = repoRoot): string[] =>
  [...new Set(resolveLayerClosure(root).map((p) => p.name))].sort();

/** What the functions import from outside their bundles: module -> the names they use. */
export type LayerModules = Record<string, string[]>;

/** A re-export of everything (`import * as`, a dynamic import): the module is kept whole. */
const WHOLE = '*';

/**
 * The modules the functions import from the layer and the runtime, with the names they import,
 * read from the functions' own bundles (esbuild keeps only what is used).
 */
export const layerModules = (root: string = repoRoot): LayerModules => {
  const external = [...runtimeProvidedPackages, ...layerProvidedModules(root)];
  const result = buildSync({
    entryPoints: Object.values(functions).map((f) => join(root, f.entry)),
    absWorkingDir: root,
    outdir: join(root, '.layer-scan'),
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    mainFields: ['module', 'main'],
    external,
    logLevel: 'error',
  });
  const isExternal = (path: string) => external.some((e) => (e.endsWith('/*') ? path.startsWith(e.slice(0, -1)) : path === e || path.startsWith(`${e}/`)));
  const names = new Map<string, Set<string>>();
  const use = (module: string, name: string) => names.set(module, (names.get(module) ?? new Set()).add(name));
  for (const output of Object.values(result.metafile.outputs)) {
    for (const { path, kind } of output.imports) {
      if (!isExternal(path)) continue;
      // The layer is ESM only: a require() of it would fail at run time, so it fails here.
      if (kind === 'require-call') throw new Error(`dependencies layer: ${path} is required, not imported; the layer serves ES modules only`);
    }
  }
  for (const file of result.outputFiles) {
    // esbuild spreads an import of many names over several lines.
    for (const [, clause, module] of file.text.matchAll(/^import ([^;]+?) from "([^"]+)";$/gm)) {
      if (!isExternal(module!)) continue;
      const named = /\{([^}]*)\}/.exec(clause!)?.[1];
      for (const part of named?.split(',') ?? []) if (part.trim()) use(module!, part.trim().split(/\s+as\s+/)[0]!);
      const rest = clause!.replace(/\{[^}]*\}/, '').replace(/,\s*$/, '').trim();
      if (rest.startsWith('* as')) use(module!, WHOLE);
      else if (rest) use(module!, 'default');
    }
    // A dynamic import uses the one name read from it, `(await import("m")).name`; any other
    // form may use anything, so the module is kept whole.
    for (const [call, module] of file.text.matchAll(/\bimport\("([^"]+)"\)/g)) {
      if (!isExternal(module!)) continue;
      const escaped = call.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const read = [...file.text.matchAll(new RegExp(`\\(await ${escaped}\\)\\.([\\w$]+)`, 'g'))].map((m) => m[1]!);
      const calls = file.text.split(call).length - 1;
      for (const name of read.length === calls ? read : [WHOLE]) use(module!, name);
    }
  }
  return Object.fromEntries([...names.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([m, n]) => [m, [...n].sort()]));
};

/** `@scope/name/sub` -> [`@scope/name`, `sub`]; `zod` -> [`zod`, ``]. */
const splitSpecifier = (specifier: string): [string, string] => {
  const parts = specifier.split('/');
  const length = specifier.startsWith('@') ? 2 : 1;
  return [parts.slice(0, length).join('/'), parts.slice(length).join('/')];
};

const facade = (module: string, names: string[]): string =>
  names.includes(WHOLE)
    ? `export * from '${module}';${names.includes('default') ? ` export { default } from '${module}';` : ''}`
    : `export { ${names.map((n) => (n === 'default' ? 'default' : n)).join(', ')} } from '${module}';`;

/** What the manifest records; a build is current when the lock file and the modules match. */
export type LayerManifest = {
  format: number;
  lockFile: string;
  modules: LayerModules;
  /** Every package with code in the layer, with its version (for licences and audits). */
  packages: { name: string; version: string }[];
  /** Each file under nodejs/node_modules: the bytes each package has in it. */
  files: Record<string, Record<string, number>>;
};

// Bumped when the layout changes, so an older build is never taken for a current one.
const LAYOUT = 4;

const lockFileHash = (root: string): string =>
  createHash('sha256').update(readFileSync(join(root, 'package-lock.json'))).digest('hex');

const licence = /^(?:licen[cs]e|notice)/i;

/**
 * zod's namespace carries its error messages in some forty languages (260 KB minified) that no
 * function uses: zod speaks English by default and nothing here calls `z.config(z.locales.X())`.
 * The facades resolve `zod` to a copy beside them whose locale index offers English alone, so
 * the layer parses a third as much zod at every cold start. A use of another locale would fail
 * in AWS (`z.locales.X is not a function`), so keep it that way or drop this step.
 */
const stageEnglishOnlyZod = (root: string, facades: string): void => {
  const zod = findPackageDir(root, 'zod', root);
  if (zod === undefined) return;
  const staged = join(facades, 'node_modules', 'zod');
  cpSync(zod, staged, { recursive: true, dereference: true, filter: (source) => !/\.(?:[cm]?ts|cjs|map)$/.test(source) });
  writeFileSync(join(staged, 'v4', 'locales', 'index.js'), 'export { default as en } from "./en.js";\n');
};

/** Builds the layer into `outDir` (replaced if present) and returns its manifest. */
export const buildDependenciesLayer = ({
  root = repoRoot,
  outDir = layerBuildDir,
  modules = layerModules(root),
}: { root?: string; outDir?: string; modules?: LayerModules } = {}): LayerManifest => {
  // Build beside the target and swap, so a reader never sees a half-built layer.
  const staging = `${outDir}.staging-${process.pid}-${Date.now()}`;
  rmSync(staging, { recursive: true, force: true });
  const sources = join(staging, 'facades');
  const nodeModules = join(staging, 'nodejs', 'node_modules');
  mkdirSync(sources, { recursive: true });
  if ('zod' in modules) stageEnglishOnlyZod(root, sources);
  const entryPoints = Object.entries(modules).map(([module, names], i) => {
    const file = join(sources, `${i}.mjs`);
    writeFileSync(file, facade(module, names));
    const [name, sub] = splitSpecifier(module);
    return { in: file, out: `${name}/${sub || 'index'}` };
  });
  const result = buildSync({
    entryPoints,
    outdir: nodeModules,
    absWorkingDir: root,
    nodePaths: [join(root, 'node_modules')],
    bundle: true,
    splitting: true,
    chunkNames: '.latchkey/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    mainFields: ['module', 'main'],
    // CommonJS inside (the X-Ray SDK) still calls require for Node built-ins.
    banner: { js: "import { createRequire as __latchkeyCreateRequire } from 'node:module'; const require = __latchkeyCreateRequire(import.meta.url);" },
    metafile: true,
    logLevel: 'error',
  });
  // One package.json per package, mapping its subpaths to the entries.
  const exportsOf = new Map<string, Record<string, string>>();
  for (const module of Object.keys(modules)) {
    const [name, sub] = splitSpecifier(module);
    exportsOf.set(name, { ...exportsOf.get(name), [sub ? `./${sub}` : '.']: `./${sub || 'index'}.mjs` });
  }
  for (const [name, exports] of exportsOf) {
    const { version } = readPackageJson(join(root, 'node_modules', name));
    writeFileSync(join(nodeModules, name, 'package.json'), `${JSON.stringify({ name, version, type: 'module', exports }, null, 2)}\n`);
  }
  // Licences of everything bundled, under licenses/<package>/.
  const bundled = new Map<string, string>();
  const packageOf = (input: string): string | undefined => {
    const at = input.lastIndexOf('node_modules/');
    if (at < 0 || dirname(resolve(root, input)) === sources) return undefined;
    const rest = input.slice(at + 'node_modules/'.length).split('/');
    const name = rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
    bundled.set(resolve(root, input.slice(0, at + 'node_modules/'.length + name.length)), name);
    return name;
  };
  const files: LayerManifest['files'] = {};
  for (const [output, { inputs }] of Object.entries(result.metafile.outputs)) {
    const bytes: Record<string, number> = {};
    for (const [input, { bytesInOutput }] of Object.entries(inputs)) {
      const name = packageOf(input);
      if (name !== undefined && bytesInOutput > 0) bytes[name] = (bytes[name] ?? 0) + bytesInOutput;
    }
    files[relative(nodeModules, resolve(root, output)).split(sep).join('/')] = bytes;
  }
  const packages = [...bundled.entries()].map(([dir, name]) => {
    for (const file of readdirSync(dir).filter((f) => licence.test(f))) {
      mkdirSync(join(staging, 'licenses', name), { recursive: true });
      copyFileSync(join(dir, file), join(staging, 'licenses', name, file));
    }
    return { name, version: readPackageJson(dir).version };
  });
  rmSync(sources, { recursive: true, force: true });
  packages.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  const manifest: LayerManifest = { format: LAYOUT, lockFile: lockFileHash(root), modules, packages, files };
  writeFileSync(join(staging, manifestFileName), `${JSON.stringify(manifest, null, 2)}\n`);
  const previous = `${outDir}.previous-${process.pid}-${Date.now()}`;
  if (existsSync(outDir)) renameSync(outDir, previous);
  renameSync(staging, outDir);
  rmSync(previous, { recursive: true, force: true });
  return manifest;
};

const isCurrent = (outDir: string, root: string, modules: LayerModules): boolean => {
  const manifest = join(outDir, manifestFileName);
  if (!existsSync(manifest) || !existsSync(join(outDir, 'nodejs', 'node_modules'))) return false;
  try {
    const built = JSON.parse(readFileSync(manifest, 'utf8')) as LayerManifest;
    return built.format === LAYOUT && built.lockFile === lockFileHash(root) && JSON.stringify(built.modules) === JSON.stringify(modules);
  } catch {
    return false;
  }
};

const sleep = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/**
 * Returns the layer directory, building it first when it is missing or does not match the
 * installed packages. Safe to call from parallel test workers: one builds, the others wait.
 */
export const ensureDependenciesLayer = ({
  root = repoRoot,
  outDir = layerBuildDir,
}: { root?: string; outDir?: string } = {}): string => {
  const modules = layerModules(root);
  if (isCurrent(outDir, root, modules)) return outDir;
  const lock = `${outDir}.lock`;
  const deadline = Date.now() + 120_000;
  mkdirSync(dirname(lock), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A lock older than a minute belongs to a process that died mid-build.
      const held = statSync(lock, { throwIfNoEntry: false });
      if (held !== undefined && Date.now() - held.mtimeMs > 60_000) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`dependencies layer: timed out waiting for ${lock}`, { cause: error });
      sleep(100);
    }
  }
  try {
    if (!isCurrent(outDir, root, modules)) buildDependenciesLayer({ root, outDir, modules });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return outDir;
};

const directorySize = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((total, entry) => {
    const path = join(dir, entry.name);
    return total + (entry.isDirectory() ? directorySize(path) : statSync(path).size);
  }, 0);

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const { modules, packages } = buildDependenciesLayer();
  const kb = (directorySize(layerBuildDir) / 1000).toFixed(0);
  console.log(
    `dependencies layer: ${Object.keys(modules).length} modules from ${packages.length} packages, ${kb} KB in ${relative(process.cwd(), layerBuildDir) || '.'} (${Date.now() - started} ms)`,
  );
}
