/**
 * Builds the dependencies layer OFFLINE: copies the layer packages and their transitive
 * production dependencies from the repository's `node_modules` (installed from the lock file)
 * into `layers/dependencies/build/nodejs/node_modules/`, the layout Lambda expects under /opt.
 *
 *   npx tsx layers/dependencies/build.ts     # (re)build and print a summary
 *
 * The CDK app calls `ensureDependenciesLayer()`, which rebuilds only when the resolved package
 * set differs from the last build, so `cdk synth` and the CDK tests never see a stale layer.
 */
import {
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
import { layerPackages } from './packages.ts';

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

// Only JavaScript and package metadata run in Lambda; types, sources and maps are dead weight.
// Licence files are kept.
const prunable = /\.(?:d\.[cm]?ts|[cm]?ts|tsx|map|md|markdown)$/i;
const keep = /^(?:licen[cs]e|notice)/i;

const copyPackage = (from: string, to: string): void => {
  cpSync(from, to, {
    recursive: true,
    dereference: true,
    filter: (source) => {
      const rel = relative(from, source);
      if (rel === '') return true;
      const parts = rel.split(sep);
      // nested node_modules are copied as packages of their own (only those in the closure)
      if (parts.includes('node_modules')) return false;
      const base = parts[parts.length - 1] ?? '';
      if (keep.test(base)) return true;
      return !(prunable.test(base) && statSync(source).isFile());
    },
  });
};

/** Builds the layer into `outDir` (replaced if present) and returns the packages copied. */
export const buildDependenciesLayer = ({
  root = repoRoot,
  outDir = layerBuildDir,
}: { root?: string; outDir?: string } = {}): LayerPackage[] => {
  const closure = resolveLayerClosure(root);
  // Build beside the target and swap, so a reader never sees a half-copied layer.
  const staging = `${outDir}.staging-${process.pid}-${Date.now()}`;
  rmSync(staging, { recursive: true, force: true });
  for (const pkg of closure) {
    copyPackage(join(root, 'node_modules', pkg.path), join(staging, 'nodejs', 'node_modules', pkg.path));
  }
  writeFileSync(join(staging, manifestFileName), `${JSON.stringify({ packages: closure }, null, 2)}\n`);
  const previous = `${outDir}.previous-${process.pid}-${Date.now()}`;
  if (existsSync(outDir)) renameSync(outDir, previous);
  renameSync(staging, outDir);
  rmSync(previous, { recursive: true, force: true });
  return closure;
};

const isCurrent = (outDir: string, closure: LayerPackage[]): boolean => {
  const manifest = join(outDir, manifestFileName);
  if (!existsSync(manifest) || !existsSync(join(outDir, 'nodejs', 'node_modules'))) return false;
  try {
    const built = (JSON.parse(readFileSync(manifest, 'utf8')) as { packages: LayerPackage[] }).packages;
    return JSON.stringify(built) === JSON.stringify(closure);
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
  const closure = resolveLayerClosure(root);
  if (isCurrent(outDir, closure)) return outDir;
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
    if (!isCurrent(outDir, closure)) buildDependenciesLayer({ root, outDir });
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
  const packages = buildDependenciesLayer();
  const mb = (directorySize(layerBuildDir) / 1024 / 1024).toFixed(1);
  console.log(
    `dependencies layer: ${packages.length} packages, ${mb} MB in ${relative(process.cwd(), layerBuildDir) || '.'} (${Date.now() - started} ms)`,
  );
}
