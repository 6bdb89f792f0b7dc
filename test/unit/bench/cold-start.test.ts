import type { Metafile } from 'esbuild';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { largestPackages, packageOf } from '../../../bench/cold-start.ts';
import { boundEnvironment } from '../../../bench/support/function-env.ts';
import { functions } from '../../../functions/catalog.ts';

describe('cold start bench helpers', () => {
  it('names the package of a bundled file, scoped or not, nested or not', () => {
    expect(packageOf('node_modules/zod/v4/core/core.js')).toBe('zod');
    expect(packageOf('node_modules/@smithy/core/dist-es/index.js')).toBe('@smithy/core');
    expect(packageOf('node_modules/a/node_modules/@b/c/index.js')).toBe('@b/c');
    expect(packageOf('shared/domain/errors.ts')).toBe('(latchkey code)');
  });

  it('sums the bytes each package puts in the output, largest first', () => {
    const outfile = path.resolve(import.meta.dirname, '../../../out/index.mjs');
    const metafile = {
      inputs: {},
      outputs: {
        'out/index.mjs': {
          bytes: 0,
          exports: [],
          imports: [],
          inputs: {
            'node_modules/@hpke/core/a.js': { bytesInOutput: 300 },
            'node_modules/@hpke/core/b.js': { bytesInOutput: 200 },
            'functions/api/x.ts': { bytesInOutput: 400 },
            'node_modules/tiny/index.js': { bytesInOutput: 10 },
          },
        },
      },
    } as unknown as Metafile;
    expect(largestPackages(metafile, outfile, 2)).toEqual([
      { name: '@hpke/core', bytes: 500 },
      { name: '(latchkey code)', bytes: 400 },
    ]);
  });

  it('a function gets a variable per binding and the common ones, no more', () => {
    const env = boundEnvironment(functions['create-deployment']);
    expect(Object.keys(env).sort()).toEqual(
      ['AGENT_ACK_SECONDS', 'AGENT_HEARTBEAT_SECONDS', 'AGENT_ONLINE_SECONDS', 'AWS_REGION', 'DEPLOYMENTS_TABLE', 'DEPLOYMENT_STATE_MACHINE_ARN', 'DIRECTORY_TABLE', 'NODE_OPTIONS', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_SERVICE_NAME'].sort(),
    );
    expect(boundEnvironment(functions.health)).not.toHaveProperty('DIRECTORY_TABLE');
    expect(boundEnvironment(functions['notify-approvers'])).toHaveProperty('MAIL_FROM');
  });
});
