import './polyfills.ts';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SFNClient } from '@aws-sdk/client-sfn';
import dynalite from 'dynalite';
import { buildApp } from 'fauxqs';
import sesModule from 'aws-ses-v2-local';
import { buckets, queues, tables } from '#functions/resources.ts';
import type { FunctionName } from '#functions/catalog.ts';
import { startHttpApi } from './http-api.ts';
import { countDynamoDbRequests, countSqsAndS3Requests } from './metrics-emulators.ts';
import { serveLocalMetrics } from './metrics-endpoint.ts';
import { invokeFunction, LOCAL_REGION } from './lambda-runtime.ts';
import { restoreAgentQueues } from './persistence-agent-queues.ts';
import { localName, provision } from './provision.ts';
import { mirrorBucketObjects } from './s3-object-mirror.ts';
import { startSqsPoller, type BatchHandler } from './sqs-poller.ts';
import { startStepFunctions } from './step-functions/server.ts';

export type StackOptions = {
  /** HTTP API port; 0 picks free ports for every service. Default 4000, the others follow it. */
  port?: number;
  /**
   * Keeps what the stack holds here across restarts (DynamoDB, Step Functions executions, the
   * objects of the buckets, the agents' queues; not captured mail); in memory when omitted.
   */
  dataDir?: string;
  /** Called with errors of background work (pollers) that has no caller to throw to. */
  onBackgroundError?: (error: unknown) => void;
  /**
   * Counts requests and capacity at the DynamoDB, SQS and S3 emulators into local/metrics.ts (the
   * cost model), and serves the counts at `endpoints.metrics`. Default: LATCHKEY_LOCAL_METRICS=true.
   */
  countRequests?: boolean;
};

export type Endpoints = {
  api: string;
  dynamodb: string;
  s3: string;
  sqs: string;
  ses: string;
  sesStore: string;
  stepFunctions: string;
  region: string;
  /** The counters of local/metrics.ts (GET /metrics), when the stack counts requests. */
  metrics?: string;
};

// Credentials the emulators accept; the local process never holds real ones, so nothing it
// does can reach a real AWS account by accident.
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

const listen = async (server: Server, port: number): Promise<number> => {
  await new Promise<void>((resolve, reject) => {
    if (server.listening) return resolve();
    server.once('error', reject);
    server.once('listening', () => resolve());
  });
  return (server.address() as AddressInfo).port || port;
};

// aws-ses-v2-local is CommonJS with an `exports.default`; ESM sees the whole exports object.
const sesServer = (sesModule as unknown as { default: (config: { host: string; port: number }) => Promise<Server> }).default;

const servicePort = (apiPort: number, offset: number) => (apiPort === 0 ? 0 : apiPort + offset);

export const startLocalStack = async (options: StackOptions = {}) => {
  const apiPort = options.port ?? 4000;
  const stoppers: (() => Promise<void>)[] = [];

  // 1. Emulators, each on loopback.
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(options.dataDir ? { path: path.join(options.dataDir, 'dynamodb') } : {}) });
  const countRequests = options.countRequests ?? process.env.LATCHKEY_LOCAL_METRICS === 'true';
  if (countRequests) countDynamoDbRequests(dynamo);
  dynamo.listen(servicePort(apiPort, 1), '127.0.0.1');
  const dynamoPort = await listen(dynamo, 0);
  stoppers.push(() => new Promise((resolve) => dynamo.close(() => resolve())));

  const fauxqs = buildApp({ logger: false, defaultRegion: LOCAL_REGION });
  const objectMirror = options.dataDir ? mirrorBucketObjects(fauxqs, path.join(options.dataDir, 's3'), Object.keys(buckets).map(localName)) : undefined;
  if (countRequests) countSqsAndS3Requests(fauxqs);
  await fauxqs.listen({ port: servicePort(apiPort, 2), host: '127.0.0.1' });
  const fauxqsPort = (fauxqs.server.address() as AddressInfo).port;
  stoppers.push(() => fauxqs.close());

  const ses = await sesServer({ host: '127.0.0.1', port: servicePort(apiPort, 3) });
  const sesPort = (ses.address() as AddressInfo).port;
  stoppers.push(() => new Promise((resolve) => { ses.closeAllConnections(); ses.close(() => resolve()); }));

  const endpoints: Endpoints = {
    api: '',
    dynamodb: `http://127.0.0.1:${dynamoPort}`,
    s3: `http://127.0.0.1:${fauxqsPort}`,
    sqs: `http://127.0.0.1:${fauxqsPort}`,
    ses: `http://127.0.0.1:${sesPort}`,
    sesStore: `http://127.0.0.1:${sesPort}/store`,
    stepFunctions: '',
    region: LOCAL_REGION,
  };
  const base = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const clients = {
    dynamodb: new DynamoDBClient({ ...base, endpoint: endpoints.dynamodb }),
    sqs: new SQSClient({ ...base, endpoint: endpoints.sqs }),
    s3: new S3Client({ ...base, endpoint: endpoints.s3, forcePathStyle: true }),
    sfn: undefined as unknown as SFNClient,
  };

  const stepFunctions = await startStepFunctions(servicePort(apiPort, 4), clients.sqs, options.dataDir && path.join(options.dataDir, 'step-functions'));
  endpoints.stepFunctions = stepFunctions.url;
  clients.sfn = new SFNClient({ ...base, endpoint: endpoints.stepFunctions });
  stoppers.push(() => stepFunctions.close());

  // 2. Resources from the same declarations as the CDK app.
  const provisioned = await provision(clients);

  // 3. The functions run in this process, configured as Lambda would configure them, with the
  //    SDK's per-service endpoint variables pointing at the emulators.
  Object.assign(process.env, provisioned.env, {
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SFN: endpoints.stepFunctions,
    AWS_ENDPOINT_URL_SESV2: endpoints.ses,
    LATCHKEY_S3_FORCE_PATH_STYLE: 'true',
    POWERTOOLS_SERVICE_NAME: 'latchkey',
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_METRICS_DISABLED: 'true',
    MAIL_FROM: 'Latchkey <latchkey@localhost>',
    AGENT_QUEUE_PREFIX: 'latchkey-agent-',
    LATCHKEY_LOCAL_AGENT_CREDENTIALS: 'true',
    LATCHKEY_AGENT_SQS_ENDPOINT: endpoints.sqs,
    AGENT_ONLINE_SECONDS: process.env.AGENT_ONLINE_SECONDS ?? '30',
    AGENT_HEARTBEAT_SECONDS: process.env.AGENT_HEARTBEAT_SECONDS ?? '10',
    AGENT_ACK_SECONDS: process.env.AGENT_ACK_SECONDS ?? '5',
  });
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  if (options.dataDir) {
    await objectMirror?.restore(clients.s3);
    await restoreAgentQueues(clients.dynamodb, clients.sqs, provisioned.env[tables.directory.envVar]!, process.env.AGENT_QUEUE_PREFIX!);
  }

  // 4. Event source mappings for queues that have a consumer function.
  for (const [logical, queue] of Object.entries(queues)) {
    if (!('consumer' in queue)) continue;
    const made = provisioned.queues[logical]!;
    const poller = startSqsPoller({
      sqs: clients.sqs,
      queueUrl: made.url,
      queueArn: made.arn,
      batchSize: queue.batchSize,
      handler: (event) => invokeFunction(queue.consumer as FunctionName, event) as ReturnType<BatchHandler>,
      ...(options.onBackgroundError ? { onError: options.onBackgroundError } : {}),
    });
    stoppers.push(() => poller.stop());
  }

  if (countRequests) {
    const metrics = await serveLocalMetrics();
    endpoints.metrics = metrics.url;
    stoppers.push(() => metrics.close());
  }

  // 5. The HTTP API last, so nothing is served before everything behind it exists.
  const api = await startHttpApi(apiPort);
  endpoints.api = api.url;
  // Links in approval emails point at this API.
  process.env.PUBLIC_API_URL = api.url;
  stoppers.push(() => api.close());
  // Last: a resumed workflow may mail approval links, which point at the API.
  stepFunctions.resume();

  return {
    endpoints,
    env: provisioned.env,
    queues: provisioned.queues,
    stop: async () => {
      for (const stop of stoppers.reverse()) await stop();
    },
  };
};

export type LocalStack = Awaited<ReturnType<typeof startLocalStack>>;
