import { readFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { functions } from '#functions/catalog.ts';
import { licenceReport, productionPackages } from '../../.ci/licences.mjs';

const root = path.resolve(import.meta.dirname, '../..');
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));

/** Every package file a bundle of these entries would contain (esbuild's metafile, nothing written). */
const bundledInputs = async (entryPoints: string[]) => {
  const result = await build({ entryPoints, bundle: true, platform: 'node', format: 'esm', write: false, metafile: true, outdir: 'out', logLevel: 'silent', splitting: true });
  return Object.keys(result.metafile.inputs);
};

describe('licences of what ships (issue 18)', () => {
  it('the production dependency closure has no copyleft licence and none unknown (.ci/licences.mjs, run by CI)', () => {
    const report = licenceReport(productionPackages(lock, (where: string) => JSON.parse(readFileSync(path.join(root, where, 'package.json'), 'utf8'))));
    expect(report.copyleft).toEqual([]);
    expect(report.unknown).toEqual([]);
    expect(report.byLicence.length).toBeGreaterThan(0);
  });

  it('the AGPL IAM simulator is a dev dependency only, outside that closure', () => {
    const packageJson = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(packageJson.devDependencies['@cloud-copilot/iam-simulate']).toBeDefined();
    expect(packageJson.dependencies['@cloud-copilot/iam-simulate']).toBeUndefined();
    expect(productionPackages(lock).map((p) => p.name).filter((name) => name.startsWith('@cloud-copilot/'))).toEqual([]);
  });

  it('finds a copyleft production dependency, and ignores a dev one', () => {
    const synthetic = {
      packages: {
        '': { name: 'app' },
        'node_modules/ok': { version: '1.0.0', license: 'MIT' },
        'node_modules/viral': { version: '2.0.0', license: 'AGPL-3.0-or-later' },
        'node_modules/ok/node_modules/weak': { version: '3.0.0', license: 'MPL-2.0' },
        'node_modules/tooling': { version: '1.0.0', license: 'GPL-3.0', dev: true },
        'node_modules/nameless': { version: '0.1.0' },
      },
    };
    const report = licenceReport(productionPackages(synthetic));
    expect(report.copyleft.map((p) => p.name)).toEqual(['viral', 'weak']);
    expect(report.unknown.map((p) => p.name)).toEqual(['nameless']);
  });

  it('no Lambda bundle, nor the CLI, nor the agent, contains it', async () => {
    const entries = [
      ...Object.values(functions).map((declaration) => path.join(root, declaration.entry)),
      path.join(root, 'cli/main.ts'),
      path.join(root, 'agent/main.ts'),
    ];
    const inputs = await bundledInputs(entries);
    expect(inputs.length).toBeGreaterThan(100);
    expect(inputs.filter((input) => input.includes('@cloud-copilot') || input.includes('local/iam'))).toEqual([]);
  }, 60_000);
});
