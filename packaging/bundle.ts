import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';

/** The two programs that ship, by the command name they install as. */
export const BINARIES = {
  latchkey: { entry: 'cli/main.ts', description: 'Latchkey command line: deploy releases, approve them, manage people, environments, applications and agents.' },
  'latchkey-agent': { entry: 'agent/main.ts', description: 'Latchkey agent: holds keys on your machines and installs releases; the backend never sees them.' },
} as const;

export type BinaryName = keyof typeof BINARIES;

/**
 * zod re-exports every locale (`z.locales`, ~260 KB of a 1.2 MB bundle) though its messages are
 * English unless one is configured, which we never do: Node compiles the whole module at every
 * start, so the bundle gets only English (what zod itself loads).
 */
const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: args.resolveDir, namespace: 'zod-locales' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({ contents: 'export { default as en } from "../locales/en.js";', resolveDir: args.path, loader: 'js' }));
  },
};

/** Where a binary's lazily loaded parts go, beside its entry file. */
export const CHUNKS_DIR = 'chunks';

/**
 * esbuild's options for one binary: an ES module that needs Node alone, `<outdir>/<name>.mjs`,
 * and the parts it loads only when a command needs them, split off into `<outdir>/chunks/`
 * (the release pipeline and tar for `push`, the WebAuthn and X.509 stack for passkeys, the SQS
 * client for the agent's `run`). Node compiles every byte of a module it loads, and what
 * `status` needs is a third of the CLI: start-up is the cost users see on every command
 * (bench/cli-startup.ts). CommonJS packages inside (commander, the AWS SDK's helpers) call
 * `require` for Node's built-ins, which an ES module lacks, hence the banner on every file.
 * Minified: the minified file starts ~50 ms sooner. The version is fixed here
 * (shared/version.ts reads package.json only when run from the sources). Licence comments of
 * the bundled packages are kept, at the end.
 */
export const bundleOptions = (root: string, entry: string, outdir: string, version: string, name = path.basename(entry, path.extname(entry))): BuildOptions => ({
  absWorkingDir: root,
  entryPoints: { [name]: entry },
  outdir,
  outExtension: { '.js': '.mjs' },
  splitting: true,
  chunkNames: `${CHUNKS_DIR}/[name]-[hash]`,
  bundle: true,
  platform: 'node',
  // ES module builds where a package has one (the AWS SDK): esbuild splits a dynamically imported
  // CommonJS package into a chunk that exports only `default`, which would leave `await
  // import('@aws-sdk/client-sqs')` without its named exports.
  mainFields: ['module', 'main'],
  format: 'esm',
  target: 'node20',
  minify: true,
  legalComments: 'eof',
  define: { LATCHKEY_VERSION: JSON.stringify(version) },
  banner: { js: ["#!/usr/bin/env node", "import { createRequire as __latchkeyRequire } from 'node:module';", 'const require = __latchkeyRequire(import.meta.url);'].join('\n') },
  metafile: true,
  logLevel: 'warning',
  plugins: [zodEnglishOnly],
});

/**
 * Bundles one binary into `outDir`: `<name>.mjs` (mode 0755) and its chunks. Answers what went
 * in (esbuild's metafile) and the files written, relative to `outDir`.
 */
export const bundleBinary = async (root: string, name: BinaryName, outDir: string, version: string): Promise<{ metafile: Metafile; files: string[]; entry: string }> => {
  const result = await build(bundleOptions(root, BINARIES[name].entry, outDir, version, name));
  const entry = path.join(outDir, `${name}.mjs`);
  await chmod(entry, 0o755);
  const files = Object.keys(result.metafile!.outputs).map((file) => path.relative(outDir, path.resolve(root, file))).sort();
  return { metafile: result.metafile!, files, entry };
};

/** What the bundle still imports at run time: must be Node's built-ins only (packaging test). */
export const runtimeImports = (metafile: Metafile): string[] => [...new Set(Object.values(metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)))].sort();

/**
 * The sources a binary compiles at every start: its entry file and the chunks it imports
 * statically, not those behind a dynamic import (packaging test: push's pipeline and the
 * WebAuthn stack stay out of every other command's start).
 */
export const loadedAtStart = (metafile: Metafile): string[] => [...new Set(outputsAtStart(metafile).flatMap((file) => Object.keys(metafile.outputs[file]!.inputs)))].sort();

/** Bytes of JavaScript a binary compiles at every start (its entry file and static chunks). */
export const bytesAtStart = (metafile: Metafile): number => outputsAtStart(metafile).reduce((sum, file) => sum + metafile.outputs[file]!.bytes, 0);

const outputsAtStart = (metafile: Metafile): string[] => {
  // Dynamically imported chunks are entry points to esbuild too: the binary's is the one outside chunks/.
  const entry = Object.keys(metafile.outputs).find((file) => metafile.outputs[file]!.entryPoint !== undefined && path.basename(path.dirname(file)) !== CHUNKS_DIR);
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const imported of metafile.outputs[file]!.imports) if (!imported.external && imported.kind === 'import-statement') visit(imported.path);
  };
  if (entry) visit(entry);
  return [...seen];
};
