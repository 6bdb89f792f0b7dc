import { readFileSync } from 'node:fs';

/**
 * The packages of the one dependencies layer (DESIGN §2): every Powertools package the project
 * depends on, `@middy/core` and `zod`. Every function gets the layer and treats these packages,
 * and the Powertools packages they pull in, as external to its bundle. Versions are whatever
 * the lock file installed: the layer is bundled from `node_modules`, so local runs, tests and
 * the cloud run the same code. What a function imports from them joins the layer by itself.
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
 * Never bundled into a function: the AWS SDK v3 and its Smithy core. The runtime provides them,
 * but as hundreds of CommonJS files whose loading dominated every cold start; the layer carries
 * the clients the functions import, prebundled (build.ts). Lambda searches the layer's
 * /opt/nodejs/node_modules before the runtime's /var/runtime/node_modules (NODE_PATH order), so
 * the layer's copy is the one loaded; should the runtime's win, the same API loads, only slower.
 */
export const runtimeProvidedPackages = ['@aws-sdk/*', '@smithy/*'] as const;
