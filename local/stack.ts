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
import { functions, type Bindings, type FunctionName } from '#functions/catalog.ts';
import { startHttpApi } from './http-api.ts';
import { countDynamoDbRequests, countSqsAndS3Requests } from './metrics-emulators.ts';
import { serveLocalMetrics } from './metrics-endpoint.ts';
import { configureFunctionRuntime, invokeFunction, LOCAL_REGION, localFunctionName, stopFunctions } from './lambda-runtime.ts';
import { functionBundles } from './function-bundles.ts';
import { readCloudAssembly } from './iam/cloud-assembly.ts';
import { startIamFronts } from './iam/fronts.ts';
import { IamGate, type Principal } from './iam/gate.ts';
import { localAssembly } from './iam/local-synth.ts';
import { localModel, type LocalModel } from './iam/local-model.ts';
import { restoreAgentQueues } from './persistence-agent-queues.ts';
import { localName, provision } from './provision.ts';
import { mirrorBucketObjects } from './s3-object-mirror.ts';
import { startSqsPoller, type BatchHandler } from './sqs-poller.ts';
import { startStepFunctions } from './step-functions/server.ts';
import { webOriginOf } from '#shared/protocol/passkeys.ts';

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
  /**
   * A cloud assembly (`cdk synth` output) whose templates give each function its environment and
   * IAM policies. Default: the app synthesized for the local stack (local/iam/local-synth.ts).
   */
  assembly?: string;
  /**
   * Emulates the SES sandbox of a new account: mail only to verified identities (here, the
   * sender's domain), anything else refused with MessageRejected. Default:
   * LATCHKEY_LOCAL_SES_SANDBOX=true.
   */
  sesSandbox?: boolean;
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
// does can reach a real AWS account by accident. This key is the stack's own (provisioning,
// tests, agents): its calls are not evaluated against any policy.
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** The access key id of a function's credentials: the IAM fronts know its role by it. */
export const functionAccessKeyId = (name: FunctionName): string => `LOCAL-${name}`;

/** Sender of approval mail on the local stack; the template's mail grant names its domain. */
export const LOCAL_MAIL_FROM = 'Latchkey <latchkey@localhost>';

/** Settings the cloud leaves at their defaults, which the local stack passes on when set (tests shorten waits). */
const LOCAL_SETTINGS = ['DEPLOY_GRANT_TIMEOUT_SECONDS', 'DEPLOY_TARGET_TIMEOUT_SECONDS', 'LATCHKEY_VERSION'];

const positiveSeconds = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number of seconds`);
  return value;
};

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
  // The app is synthesized (or its cached assembly found) while the emulators start.
  const assemblyDir = options.assembly
    ? Promise.resolve(options.assembly)
    : localAssembly({
        stage: 'local',
        mailFrom: LOCAL_MAIL_FROM,
        agentOnlineSeconds: positiveSeconds('AGENT_ONLINE_SECONDS', 30),
        agentHeartbeatSeconds: positiveSeconds('AGENT_HEARTBEAT_SECONDS', 10),
        agentAckSeconds: positiveSeconds('AGENT_ACK_SECONDS', 5),
      });
  assemblyDir.catch(() => undefined);
  const bundlesDir = functionBundles();
  bundlesDir.catch(() => undefined);

  // 1. Emulators, each on loopback, on ports of their own: the published endpoints are the IAM
  //    fronts of step 2.
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(options.dataDir ? { path: path.join(options.dataDir, 'dynamodb') } : {}) });
  const countRequests = options.countRequests ?? process.env.LATCHKEY_LOCAL_METRICS === 'true';
  if (countRequests) countDynamoDbRequests(dynamo);
  dynamo.listen(0, '127.0.0.1');
  const dynamoPort = await listen(dynamo, 0);
  stoppers.push(() => new Promise((resolve) => dynamo.close(() => resolve())));

  const fauxqs = buildApp({ logger: false, defaultRegion: LOCAL_REGION });
  const objectMirror = options.dataDir ? mirrorBucketObjects(fauxqs, path.join(options.dataDir, 's3'), Object.keys(buckets).map(localName)) : undefined;
  if (countRequests) countSqsAndS3Requests(fauxqs);
  await fauxqs.listen({ port: 0, host: '127.0.0.1' });
  const fauxqsPort = (fauxqs.server.address() as AddressInfo).port;
  stoppers.push(() => fauxqs.close());

  const ses = await sesServer({ host: '127.0.0.1', port: 0 });
  const sesPort = (ses.address() as AddressInfo).port;
  stoppers.push(() => new Promise((resolve) => { ses.closeAllConnections(); ses.close(() => resolve()); }));

  const stepFunctions = await startStepFunctions(0, new SQSClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint: `http://127.0.0.1:${fauxqsPort}` }), options.dataDir && path.join(options.dataDir, 'step-functions'));
  stoppers.push(() => stepFunctions.close());

  // 2. The IAM fronts: every call signed with a function's key is evaluated against its role
  //    (DESIGN §7). The principals are known once the template is read (step 4); until then only
  //    the stack's own key is in use.
  const principals = new Map<string, Principal>();
  const gate = new IamGate(principals);
  const fronts = await startIamFronts({
    gate,
    ports: { dynamodb: servicePort(apiPort, 1), s3: servicePort(apiPort, 2), ses: servicePort(apiPort, 3), stepFunctions: servicePort(apiPort, 4), sqs: servicePort(apiPort, 5) },
    upstreams: {
      dynamodb: `http://127.0.0.1:${dynamoPort}`,
      fauxqs: `http://127.0.0.1:${fauxqsPort}`,
      ses: `http://127.0.0.1:${sesPort}`,
      stepFunctions: stepFunctions.url,
    },
    stateMachineOfToken: stepFunctions.stateMachineOfToken,
    sesSandbox: options.sesSandbox ?? process.env.LATCHKEY_LOCAL_SES_SANDBOX === 'true',
    onDenied: (line) => process.stderr.write(`[local IAM] ${line}\n`),
  });
  stoppers.push(() => fronts.close());

  const endpoints: Endpoints = {
    api: '',
    dynamodb: fronts.urls.dynamodb,
    s3: fronts.urls.s3,
    sqs: fronts.urls.sqs,
    ses: fronts.urls.ses,
    sesStore: `${fronts.urls.ses}/store`,
    stepFunctions: fronts.urls.stepFunctions,
    region: LOCAL_REGION,
  };
  const base = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const clients = {
    dynamodb: new DynamoDBClient({ ...base, endpoint: endpoints.dynamodb }),
    sqs: new SQSClient({ ...base, endpoint: endpoints.sqs }),
    s3: new S3Client({ ...base, endpoint: endpoints.s3, forcePathStyle: true }),
    sfn: new SFNClient({ ...base, endpoint: endpoints.stepFunctions }),
  };

  // 3. Resources from the same declarations as the CDK app.
  const provisioned = await provision(clients);

  // 4. Each function's environment and role, from the synthesized templates.
  const published: { apiUrl?: string } = {};
  const model: LocalModel = localModel(readCloudAssembly(await assemblyDir), {
    tables: Object.fromEntries(Object.keys(tables).map((t) => [t, provisioned.env[tables[t as keyof typeof tables].envVar]!])) as never,
    buckets: Object.fromEntries(Object.keys(buckets).map((b) => [b, provisioned.env[buckets[b as keyof typeof buckets].envVar]!])) as never,
    queues: provisioned.queues as never,
    stateMachines: provisioned.stateMachines as never,
    apiUrl: () => {
      if (!published.apiUrl) throw new Error('PUBLIC_API_URL: the HTTP API is not listening yet');
      return published.apiUrl;
    },
  });
  for (const name of Object.keys(model.functions) as FunctionName[]) {
    principals.set(functionAccessKeyId(name), { roleArn: model.functions[name].roleArn, sessionName: localFunctionName(name), policies: model.functions[name].policies });
  }
  const localSettings = Object.fromEntries(LOCAL_SETTINGS.filter((name) => process.env[name]).map((name) => [name, process.env[name]!]));
  configureFunctionRuntime({
    bundles: await bundlesDir,
    // What Lambda gives a function, and no more: the template's variables, the runtime's own,
    // credentials of its role, and (the local part) where the emulators are.
    environmentOf: (name) => ({
      ...model.functions[name].environment(),
      ...localSettings,
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: functionAccessKeyId(name),
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_LAMBDA_FUNCTION_NAME: localFunctionName(name),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${localFunctionName(name)}`,
      AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
      AWS_ENDPOINT_URL_SQS: endpoints.sqs,
      AWS_ENDPOINT_URL_S3: endpoints.s3,
      AWS_ENDPOINT_URL_SFN: endpoints.stepFunctions,
      AWS_ENDPOINT_URL_SESV2: endpoints.ses,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      LATCHKEY_S3_FORCE_PATH_STYLE: 'true',
      LATCHKEY_LOCAL_AGENT_CREDENTIALS: 'true',
      LATCHKEY_AGENT_SQS_ENDPOINT: endpoints.sqs,
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
      POWERTOOLS_TRACE_ENABLED: 'false',
      POWERTOOLS_METRICS_DISABLED: 'true',
    }),
  });
  stoppers.push(stopFunctions);
  // The stage's agent queue prefix, as the functions bound to the agent queues have it.
  const queueManager = (Object.keys(functions) as FunctionName[]).find((name) => (functions[name].bind as Bindings).agentQueues === 'manage')!;
  const agentQueuePrefix = model.functions[queueManager].environment().AGENT_QUEUE_PREFIX!;
  if (options.dataDir) {
    await objectMirror?.restore(clients.s3);
    await restoreAgentQueues(clients.dynamodb, clients.sqs, provisioned.env[tables.directory.envVar]!, agentQueuePrefix);
  }

  // 5. Event source mappings for queues that have a consumer function: Lambda polls with the
  //    consumer's role, so the poller signs with its key.
  for (const [logical, queue] of Object.entries(queues)) {
    if (!('consumer' in queue)) continue;
    const made = provisioned.queues[logical]!;
    const consumer = queue.consumer as FunctionName;
    const poller = startSqsPoller({
      sqs: new SQSClient({ region: LOCAL_REGION, endpoint: endpoints.sqs, credentials: { accessKeyId: functionAccessKeyId(consumer), secretAccessKey: 'local' } }),
      queueUrl: made.url,
      queueArn: made.arn,
      batchSize: queue.batchSize,
      handler: (event) => invokeFunction(consumer, event) as ReturnType<BatchHandler>,
      ...(options.onBackgroundError ? { onError: options.onBackgroundError } : {}),
    });
    stoppers.push(() => poller.stop());
  }

  if (countRequests) {
    const metrics = await serveLocalMetrics();
    endpoints.metrics = metrics.url;
    stoppers.push(() => metrics.close());
  }

  // 6. The HTTP API last, so nothing is served before everything behind it exists.
  const api = await startHttpApi(apiPort);
  endpoints.api = api.url;
  // Links in emails point at this API, as `localhost`: they open pages where passkeys sign, and
  // WebAuthn accepts no IP address as a relying party (shared/protocol/passkeys.ts webOriginOf).
  published.apiUrl = webOriginOf(api.url).origin;
  stoppers.push(() => api.close());
  // Last: a resumed workflow may mail approval links, which point at the API.
  stepFunctions.resume();

  return {
    endpoints,
    env: { ...provisioned.env, AGENT_QUEUE_PREFIX: agentQueuePrefix } as Record<string, string>,
    queues: provisioned.queues,
    stop: async () => {
      for (const stop of stoppers.reverse()) await stop();
    },
  };
};

export type LocalStack = Awaited<ReturnType<typeof startLocalStack>>;
