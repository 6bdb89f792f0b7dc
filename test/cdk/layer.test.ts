import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { externalModules } from '../../cdk/bundling.ts';
import {
  buildDependenciesLayer,
  ensureDependenciesLayer,
  manifestFileName,
  repoRoot,
  resolveLayerClosure,
} from '../../layers/dependencies/build.ts';
import { layerPackages } from '../../layers/dependencies/packages.ts';

const outDir = join(mkdtempSync(join(tmpdir(), 'latchkey-layer-')), 'build');
afterAll(() => rmSync(join(outDir, '..'), { recursive: true, force: true }));

const installedVersion = (name: string): string =>
  (JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );

describe('dependencies layer', () => {
  it('resolves the layer packages and their production dependencies from node_modules, nested copies included', () => {
    const closure = resolveLayerClosure();
    for (const name of layerPackages) {
      expect(closure).toContainEqual({ name, version: installedVersion(name), path: name });
    }
    // the X-Ray SDK (tracer's dependency) comes along; dev tooling does not
    expect(closure.map((p) => p.name)).toContain('aws-xray-sdk-core');
    expect(closure.map((p) => p.name)).not.toContain('aws-cdk-lib');
    expect(new Set(closure.map((p) => p.path)).size).toBe(closure.length);
  });

  it('builds offline into nodejs/node_modules with JavaScript and licences only, plus a manifest', () => {
    // Act
    const packages = buildDependenciesLayer({ outDir });

    // Assess
    for (const pkg of packages) {
      expect(existsSync(join(outDir, 'nodejs', 'node_modules', pkg.path, 'package.json')), pkg.path).toBe(true);
    }
    const files = filesUnder(outDir);
    expect(files.filter((f) => /\.(d\.[cm]?ts|map)$/.test(f))).toEqual([]);
    expect(files.some((f) => f.endsWith(join('node_modules', 'zod', 'LICENSE')))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(outDir, manifestFileName), 'utf8')) as { packages: unknown[] };
    expect(manifest.packages).toEqual(packages);
  });

  it('ensureDependenciesLayer reuses a current build instead of copying again', () => {
    buildDependenciesLayer({ outDir });
    const before = statSync(join(outDir, manifestFileName)).mtimeMs;
    expect(ensureDependenciesLayer({ outDir })).toBe(outDir);
    expect(statSync(join(outDir, manifestFileName)).mtimeMs).toBe(before);
  });

  it('function bundles leave the layer packages and the runtime AWS SDK external', () => {
    const withLayer = externalModules({ withLayer: true });
    expect(withLayer).toEqual(expect.arrayContaining(['@aws-sdk/*', '@smithy/*', ...layerPackages]));
    expect(externalModules({ withLayer: false })).toEqual(['@aws-sdk/*', '@smithy/*']);
  });
});
