import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { esbuildOptions, externalModules } from '../../cdk/bundling.ts';
import { layerDescription } from '../../cdk/constructs/dependencies-layer.ts';
import { functions } from '../../functions/catalog.ts';
import {
  buildDependenciesLayer,
  ensureDependenciesLayer,
  layerModules,
  manifestFileName,
  repoRoot,
  resolveLayerClosure,
  type LayerManifest,
} from '../../layers/dependencies/build.ts';
import { layerPackages } from '../../layers/dependencies/packages.ts';
import { boundEnvironment } from '../../bench/support/function-env.ts';

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
    // production dependencies of the layer packages come along; dev tooling does not, nor the
    // X-Ray SDK (Lambda's active tracing needs none: issue 18)
    expect(closure.map((p) => p.name)).toContain('@aws-lambda-powertools/commons');
    expect(closure.map((p) => p.name)).not.toContain('aws-xray-sdk-core');
    expect(closure.map((p) => p.name)).not.toContain('aws-cdk-lib');
    expect(closure.map((p) => p.name)).not.toContain('@cloud-copilot/iam-simulate');
    expect(new Set(closure.map((p) => p.path)).size).toBe(closure.length);
  });

  it('knows which names the functions import from outside their bundles', () => {
    const modules = layerModules();
    expect(modules.zod).toEqual(['z']);
    expect(modules['@aws-sdk/client-dynamodb']).toEqual(expect.arrayContaining(['DynamoDBClient', 'ConditionalCheckFailedException']));
    expect(modules['@aws-lambda-powertools/logger/middleware']).toEqual(['injectLambdaContext']);
    expect(modules['@middy/core']).toEqual(['default']);
    // read one by one from dynamic imports (aws-clients.ts), and from a static import esbuild
    // spreads over several lines: all of them, or a function fails to load at cold start
    expect(modules['@aws-sdk/client-s3']).toEqual(
      expect.arrayContaining(['S3Client', 'CompleteMultipartUploadCommand', 'CreateMultipartUploadCommand', 'HeadObjectCommand', 'NoSuchUpload', 'NotFound', 'UploadPartCommand']),
    );
    expect(modules['@aws-sdk/s3-request-presigner']).toEqual(['getSignedUrl']);
    expect(modules['@aws-sdk/client-sts']).toEqual(['AssumeRoleCommand', 'STSClient']);
    // only what is imported: nothing whole, no Node built-in
    expect(Object.values(modules).flat()).not.toContain('*');
    expect(Object.keys(modules).filter((m) => m.startsWith('node:'))).toEqual([]);
  });

  let manifest: LayerManifest;
  it('builds offline: one ESM module per imported package under nodejs/node_modules, licences, a manifest', () => {
    // Act
    manifest = buildDependenciesLayer({ outDir });

    // Assess
    for (const module of Object.keys(manifest.modules)) {
      const [scope, name, sub] = module.startsWith('@') ? module.split('/') : ['', ...module.split('/')];
      const dir = join(outDir, 'nodejs', 'node_modules', scope ?? '', name!);
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type: string; exports: Record<string, string> };
      expect(pkg.type, module).toBe('module');
      expect(existsSync(join(dir, pkg.exports[sub ? `./${sub}` : '.']!)), module).toBe(true);
    }
    const files = filesUnder(outDir);
    expect(files.filter((f) => /\.(d\.[cm]?ts|map|cjs|js)$/.test(f))).toEqual([]);
    expect(existsSync(join(outDir, 'licenses', 'zod', 'LICENSE'))).toBe(true);
    expect(existsSync(join(outDir, 'licenses', '@aws-sdk', 'client-dynamodb', 'LICENSE'))).toBe(true);
    expect(manifest.packages.map((p) => p.name)).toEqual(expect.arrayContaining(['zod', '@smithy/core']));
    expect(JSON.parse(readFileSync(join(outDir, manifestFileName), 'utf8'))).toEqual(manifest);
  });

  it('serves every function: each bundle beside the layer imports, and health answers', async () => {
    // Arrange: the bundles as CDK makes them, where /var/task would be relative to /opt/nodejs
    const bundles = await Promise.all(
      Object.entries(functions).map(async ([name, declaration]) => {
        const outfile = join(outDir, 'nodejs', 'functions', name, 'index.mjs');
        await build({ ...esbuildOptions({ entry: join(repoRoot, declaration.entry), outfile }), logLevel: 'error' });
        return { url: pathToFileURL(outfile).href, env: boundEnvironment(declaration) };
      }),
    );
    const env = Object.assign({}, ...bundles.map((b) => b.env)) as Record<string, string>;
    const script = [
      'for (const url of JSON.parse(process.argv[1])) await import(url);',
      'const { handler } = await import(JSON.parse(process.argv[1])[0]);',
      "const reply = await handler({ routeKey: 'GET /health', rawPath: '/health', headers: {}, requestContext: { http: { method: 'GET' } } }, { functionName: 'health', awsRequestId: 'r', getRemainingTimeInMillis: () => 10_000 });",
      'process.stdout.write(JSON.stringify(reply));',
    ].join('\n');
    const healthFirst = [bundles[Object.keys(functions).indexOf('health')]!.url, ...bundles.map((b) => b.url)];

    // Act: one process, no repository node_modules on the way (the layer is a sibling)
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(healthFirst)], {
      cwd: outDir,
      env: { PATH: process.env.PATH ?? '', ...env, POWERTOOLS_TRACE_ENABLED: 'false', POWERTOOLS_LOG_LEVEL: 'ERROR' },
    });

    // Assess
    expect(JSON.parse(stdout)).toMatchObject({ statusCode: 200 });
  }, 120_000);

  it('its DynamoDB client talks to DynamoDB: requests, items and the conditional-check error the adapters test for', async () => {
    // Arrange: the layer's own modules, and a server answering as DynamoDB does
    const layerModule = async <T,>(name: string) => (await import(pathToFileURL(join(outDir, 'nodejs', 'node_modules', name, 'index.mjs')).href)) as T;
    const { DynamoDBClient, ConditionalCheckFailedException } = await layerModule<typeof import('@aws-sdk/client-dynamodb')>('@aws-sdk/client-dynamodb');
    const { DynamoDBDocumentClient, GetCommand, PutCommand } = await layerModule<typeof import('@aws-sdk/lib-dynamodb')>('@aws-sdk/lib-dynamodb');
    const targets: string[] = [];
    const server = createServer((request, response) => {
      targets.push(String(request.headers['x-amz-target']));
      request.resume().on('end', () => {
        response.setHeader('content-type', 'application/x-amz-json-1.0');
        if (request.headers['x-amz-target'] === 'DynamoDB_20120810.GetItem') {
          response.end(JSON.stringify({ Item: { pk: { S: 'a' }, n: { N: '1' } } }));
        } else {
          response.statusCode = 400;
          response.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException', message: 'The conditional request failed' }));
        }
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    const client = new DynamoDBClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 's' } });
    const documents = DynamoDBDocumentClient.from(client);

    try {
      // Act
      const got = await documents.send(new GetCommand({ TableName: 't', Key: { pk: 'a' } }));
      const put = documents.send(new PutCommand({ TableName: 't', Item: { pk: 'a' }, ConditionExpression: 'attribute_not_exists(pk)' }));

      // Assess
      expect(got.Item).toEqual({ pk: 'a', n: 1 });
      await expect(put).rejects.toBeInstanceOf(ConditionalCheckFailedException);
      expect(targets).toEqual(['DynamoDB_20120810.GetItem', 'DynamoDB_20120810.PutItem']);
    } finally {
      client.destroy();
      server.close();
    }
  });

  it("carries zod's English messages only", async () => {
    const { z } = (await import(pathToFileURL(join(outDir, 'nodejs', 'node_modules', 'zod', 'index.mjs')).href)) as typeof import('zod');
    expect(Object.keys(z.locales)).toEqual(['en']);
    expect(z.string().safeParse(1).error?.issues[0]?.message).toBe('Invalid input: expected string, received number');
  });

  it('ensureDependenciesLayer reuses a current build instead of building again', () => {
    const before = statSync(join(outDir, manifestFileName)).mtimeMs;
    expect(ensureDependenciesLayer({ outDir })).toBe(outDir);
    expect(statSync(join(outDir, manifestFileName)).mtimeMs).toBe(before);
  });

  it('is described by what the built layer carries: prebundled, the SDK clients, no package the functions do not import', () => {
    const description = layerDescription(outDir);
    expect(description).toMatch(/^Latchkey dependencies, prebundled: Powertools .*logger/);
    expect(description).toContain('zod');
    expect(description).toContain('AWS SDK client-dynamodb');
    expect(description).toContain('client-sesv2');
    expect(description).not.toMatch(/idempotency|metrics/);
    expect(description.length).toBeLessThanOrEqual(256);
  });

  it('function bundles leave the layer packages and the runtime AWS SDK external', () => {
    const withLayer = externalModules({ withLayer: true });
    expect(withLayer).toEqual(expect.arrayContaining(['@aws-sdk/*', '@smithy/*', ...layerPackages]));
    expect(externalModules({ withLayer: false })).toEqual(['@aws-sdk/*', '@smithy/*']);
  });
});
