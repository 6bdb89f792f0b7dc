/**
 * How every Lambda function is bundled, in one place: the CDK construct uses
 * `nodejsBundling()`, and `esbuildOptions()` gives the same build to plain esbuild so the
 * benchmark can measure bundle sizes with and without the dependencies layer, without CDK.
 */
import type { BuildOptions } from 'esbuild';
import { layerPackages, runtimeProvidedPackages } from '../layers/dependencies/packages.ts';
import { resolveLayerClosure } from '../layers/dependencies/build.ts';

/** The Node.js version of the Lambda runtime (`NODEJS_24_X`), as an esbuild target. */
export const lambdaNodeTarget = 'node24';

/**
 * ESM output has no `require`; some CommonJS dependencies still call it (e.g. for Node
 * built-ins), so the bundle starts by recreating it. The alias avoids clashing with a
 * bundled `createRequire`.
 */
export const esmRequireBanner =
  "import { createRequire as __latchkeyCreateRequire } from 'node:module'; const require = __latchkeyCreateRequire(import.meta.url);";

/**
 * Modules the dependencies layer provides to every function: the layer's own packages and the
 * Powertools packages they pull in (which handler code may import directly).
 */
export const layerExternalModules = (): string[] => {
  const provided = resolveLayerClosure().map((p) => p.name);
  const powertools = provided.filter((name) => name.startsWith('@aws-lambda-powertools/'));
  return [...new Set<string>([...layerPackages, ...powertools])].sort();
};

/**
 * Everything a function bundle leaves out: the AWS SDK (which the layer carries prebundled, in
 * front of the runtime's copy) and, with the layer, the layer's packages.
 */
export const externalModules = ({ withLayer }: { withLayer: boolean }): string[] => [
  ...runtimeProvidedPackages,
  ...(withLayer ? layerExternalModules() : []),
];

/** The shared bundling settings, in the vocabulary of `NodejsFunction` (see `nodejsBundling`). */
export const bundlingSettings = {
  format: 'esm',
  minify: true,
  sourceMap: true,
  // Mappings alone give readable stack traces; embedding the sources would double the size.
  sourcesContent: false,
  // Prefer the ESM build of dependencies that ship both.
  mainFields: ['module', 'main'],
  target: lambdaNodeTarget,
  banner: esmRequireBanner,
} as const;

/**
 * The same bundle with plain esbuild, e.g. for `bench/`:
 * `await esbuild.build(esbuildOptions({ entry, outfile, withLayer: true }))`.
 */
export const esbuildOptions = ({
  entry,
  outfile,
  withLayer = true,
}: {
  entry: string;
  outfile: string;
  withLayer?: boolean;
}): BuildOptions => ({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: bundlingSettings.format,
  target: bundlingSettings.target,
  minify: bundlingSettings.minify,
  sourcemap: bundlingSettings.sourceMap,
  sourcesContent: bundlingSettings.sourcesContent,
  mainFields: [...bundlingSettings.mainFields],
  banner: { js: bundlingSettings.banner },
  external: externalModules({ withLayer }),
  metafile: true,
});
