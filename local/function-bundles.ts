/**
 * The functions as the local stack runs them: bundled with esbuild, as CDK bundles them for
 * Lambda (cdk/bundling.ts), one ESM file per catalog entry plus the instance worker that loads
 * it. A function instance then starts in ~150 ms instead of ~600 ms of TypeScript loading, and
 * runs the code Lambda would run. The bundles are kept under node_modules/.cache, named by a
 * hash of their sources, so a start without code changes builds nothing.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { esmRequireBanner } from '#cdk/bundling.ts';
import { functions } from '#functions/catalog.ts';

const REPO_ROOT = path.resolve(import.meta.dirname, '..');
const CACHE_DIR = path.join(REPO_ROOT, 'node_modules', '.cache', 'latchkey-local-bundles');
export const WORKER_BUNDLE = 'lambda-worker.js';

const sourcesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourcesUnder(full) : /\.(ts|json)$/.test(entry.name) ? [full] : [];
  });

const options = () => ({
  entryPoints: {
    ...Object.fromEntries(Object.entries(functions).map(([name, declaration]) => [name, path.join(REPO_ROOT, declaration.entry)])),
    [WORKER_BUNDLE.replace(/\.js$/, '')]: path.join(REPO_ROOT, 'local/lambda-worker.ts'),
  },
  bundle: true,
  // Shared code in chunks: one build for every function takes about half a second.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  platform: 'node' as const,
  format: 'esm' as const,
  // The machine's Node, which runs them here (Lambda's node24 target is for the cloud).
  target: `node${process.versions.node.split('.')[0]}`,
  mainFields: ['module', 'main'],
  banner: { js: esmRequireBanner },
  sourcemap: true,
  sourcesContent: false,
  logLevel: 'warning' as const,
});

const sourcesHash = (): string => {
  const files = [...sourcesUnder(path.join(REPO_ROOT, 'functions')), ...sourcesUnder(path.join(REPO_ROOT, 'shared'))];
  files.push(path.join(REPO_ROOT, 'local/lambda-worker.ts'), path.join(REPO_ROOT, 'local/function-bundles.ts'), path.join(REPO_ROOT, 'package-lock.json'));
  const hash = createHash('sha256').update(JSON.stringify(options()));
  for (const file of files.sort()) hash.update(file).update(readFileSync(file));
  return hash.digest('hex').slice(0, 20);
};

/** The directory of the bundles (`<function name>.js` and the worker), built if not cached. */
export const functionBundles = async (): Promise<string> => {
  const dir = path.join(CACHE_DIR, sourcesHash());
  if (existsSync(path.join(dir, WORKER_BUNDLE))) return dir;
  const staging = `${dir}.staging-${process.pid}-${Date.now()}`;
  await build({ ...options(), outdir: staging });
  try {
    renameSync(staging, dir);
  } catch (error) {
    // Another start built the same bundles first.
    if (!existsSync(path.join(dir, WORKER_BUNDLE))) throw error;
    rmSync(staging, { recursive: true, force: true });
  }
  return dir;
};
