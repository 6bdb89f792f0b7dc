/**
 * The packages of the one dependencies layer (DESIGN §2). Every function gets the layer and
 * treats these packages, and everything they depend on, as external to its bundle.
 * The versions are whatever the repository's lock file installed: the layer is copied from
 * `node_modules`, so local runs, tests and the cloud use the same code.
 */
export const layerPackages = [
  '@aws-lambda-powertools/logger',
  '@aws-lambda-powertools/metrics',
  '@aws-lambda-powertools/tracer',
  '@aws-lambda-powertools/idempotency',
  '@middy/core',
  'zod',
] as const;

/**
 * Provided by the Lambda Node.js runtime (AWS SDK v3 and its Smithy core), so never bundled into
 * a function — the default of `NodejsFunction` on Node 18+. The layer still carries whatever
 * its own packages depend on (e.g. the X-Ray SDK's pinned Smithy helper), so it stays
 * self-consistent whatever SDK version the runtime ships.
 */
export const runtimeProvidedPackages = ['@aws-sdk/*', '@smithy/*'] as const;
