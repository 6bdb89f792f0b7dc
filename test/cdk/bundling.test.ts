import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esbuildOptions, esmRequireBanner, layerExternalModules } from '../../cdk/bundling.ts';
import { projectRoot } from '../../cdk/app-factory.ts';
import { functions, type FunctionName } from '../../functions/catalog.ts';
import { logicalId, synthLatchkey, type Synthesized } from './synth.ts';

// The one synthesis with real bundling (esbuild, no Docker), as `cdk synth` does it.
let synthesized: Synthesized;
beforeAll(() => {
  synthesized = synthLatchkey({ bundling: true });
});
afterAll(() => synthesized?.dispose());

const names = Object.keys(functions) as FunctionName[];

/** The staged asset of a resource: `asset.<hash>` in the cloud assembly, named by its S3 key. */
const assetDir = (s3Key: unknown): string => join(synthesized.outdir, `asset.${String(s3Key).replace(/\.zip$/, '')}`);

const assetDirOf = (name: FunctionName): string => {
  const { stateless, statelessTemplate } = synthesized;
  const resource = statelessTemplate.toJSON().Resources[logicalId(stateless, stateless.functions[name])];
  return assetDir(resource.Properties.Code.S3Key);
};

describe('function bundles (real esbuild bundling)', () => {
  it.each(names)('%s: ESM bundle with the require banner and a source map', (name) => {
    const dir = assetDirOf(name);
    const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
    expect(code.startsWith(esmRequireBanner)).toBe(true);
    expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
  });

  it.each(names)('%s: bundles none of the layer packages nor the AWS SDK', (name) => {
    const map = JSON.parse(readFileSync(join(assetDirOf(name), 'index.mjs.map'), 'utf8')) as { sources: string[] };
    const external = [...layerExternalModules(), '@aws-sdk/', '@smithy/'];
    const bundledPackages = map.sources.filter((source) =>
      external.some((name) => source.includes(`node_modules/${name.endsWith('/') ? name : `${name}/`}`)),
    );
    expect(bundledPackages).toEqual([]);
  });

  it('the layer asset carries the packages under nodejs/node_modules', () => {
    const { stateless, statelessTemplate } = synthesized;
    const layer = statelessTemplate.toJSON().Resources[logicalId(stateless, stateless.node.findChild('DependenciesLayer') as never)];
    const dir = assetDir(layer.Properties.Content.S3Key);
    expect(existsSync(join(dir, 'nodejs', 'node_modules', 'zod', 'package.json'))).toBe(true);
    expect(existsSync(join(dir, 'nodejs', 'node_modules', '@middy', 'core', 'package.json'))).toBe(true);
  });
});

describe('the same bundles without CDK (for the bundle-size benchmark)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-esbuild-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('bundles a handler with and without the layer; the layer makes it smaller', async () => {
    const entry = join(projectRoot, functions['create-account'].entry);
    const withLayer = join(dir, 'with', 'index.mjs');
    const without = join(dir, 'without', 'index.mjs');
    await build(esbuildOptions({ entry, outfile: withLayer, withLayer: true }));
    await build(esbuildOptions({ entry, outfile: without, withLayer: false }));
    expect(statSync(withLayer).size).toBeLessThan(statSync(without).size);
  });
});
