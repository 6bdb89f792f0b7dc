import { readFileSync } from 'node:fs';

/**
 * The packages of the one dependencies layer (DESIGN §2): every Powertools package the project
 * depends on, `@middy/core` and `zod`. Every function gets the layer and treats these packages,
 * and the Powertools packages they pull in, as external to its bundle. Versions are whatever
 * the lock file installed: the layer is copied from `node_modules`, so local runs, tests and the
 * cloud run the same code. A Powertools package added to package.json joins the layer by itself.
 */
const dependencies = Object.keys(
  (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies?: Record<string, string> })
    .dependencies ?? {},
);

export const layerPackages: readonly string[] = [
  ...dependencies.filter((name) => name.startsWith('@aws-lambda-powertools/')).sort(),
  '@middy/core',
  'zod',
];

/**
 * Provided by the Lambda Node.js runtime (AWS SDK v3 and its Smithy core), so never bundled into
 * a function — the default of `NodejsFunction` on Node 18+. The layer still carries whatever
 * its own packages depend on (e.g. the X-Ray SDK's pinned Smithy helper), so it stays
 * self-consistent whatever SDK version the runtime ships.
 */
export const runtimeProvidedPackages = ['@aws-sdk/*', '@smithy/*'] as const;
