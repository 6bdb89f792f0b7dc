import { chmod } from 'node:fs/promises';
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

/**
 * esbuild's options for one binary: a single ES module that needs Node alone. CommonJS packages
 * inside (commander, the AWS SDK's helpers) call `require` for Node's built-ins, which an ES
 * module lacks, hence the banner. Minified: Node compiles the whole file at every start, and the
 * minified file starts ~50 ms sooner (bench/cli-startup.ts). The dynamic imports (the SQS client,
 * the WebAuthn libraries) are bundled too, as functions that run on first use, so they still
 * cost nothing at start-up. The version is fixed here (shared/version.ts reads package.json only
 * when run from the sources). Licence comments of the bundled packages are kept, at the end.
 */
export const bundleOptions = (root: string, entry: string, outfile: string, version: string): BuildOptions => ({
  absWorkingDir: root,
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
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

/** Bundles one binary to `outfile` (mode 0755) and answers what went in (esbuild's metafile). */
export const bundleBinary = async (root: string, name: BinaryName, outfile: string, version: string): Promise<Metafile> => {
  const result = await build(bundleOptions(root, BINARIES[name].entry, outfile, version));
  await chmod(outfile, 0o755);
  return result.metafile!;
};

/** What the bundle still imports at run time: must be Node's built-ins only (packaging test). */
export const runtimeImports = (metafile: Metafile): string[] => [...new Set(Object.values(metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)))].sort();
