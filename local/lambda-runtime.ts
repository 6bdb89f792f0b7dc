import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { functions, type FunctionName } from '#functions/catalog.ts';
import { WORKER_BUNDLE } from './function-bundles.ts';
import { localMetrics } from './metrics.ts';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './lambda-worker.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..');
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';
const FUNCTION_PREFIX = 'latchkey-';

export const localFunctionName = (name: FunctionName): string => `${FUNCTION_PREFIX}${name}`;

export const localFunctionArn = (name: FunctionName): string =>
  `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${localFunctionName(name)}`;

/** Accepts a bare name, a local function name or its ARN, as Lambda's FunctionName does. */
export const functionNameOf = (nameOrArn: string): FunctionName | undefined => {
  const bare = nameOrArn.split(':function:').pop()!.split(':')[0]!.replace(FUNCTION_PREFIX, '');
  return bare in functions ? (bare as FunctionName) : undefined;
};

/** How the local stack runs a function: its bundle, with this environment and nothing else of the stack's. */
export type FunctionRuntimeConfig = {
  /** Directory of the function bundles (local/function-bundles.ts). */
  bundles: string;
  environmentOf: (name: FunctionName) => Record<string, string>;
};

/** A failure thrown by a handler (or its initialisation), carried back with its name. */
export class FunctionError extends Error {
  constructor(name: string, message: string, stack?: string) {
    super(message);
    this.name = name;
    if (stack) this.stack = stack;
  }
}

/** An X-Ray trace header, as Lambda sets `_X_AMZN_TRACE_ID` for each invocation under active tracing. */
const traceHeader = () =>
  `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=1`;

/**
 * One function instance: a worker thread of its own, so that its environment, its module
 * state (SDK clients, caches) and its credentials are its own, as in Lambda. It is started on
 * first use (a cold start) and serves every later invocation; if its initialisation fails, the
 * next invocation tries again, as Lambda does.
 */
class FunctionInstance {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  readonly ready: Promise<void>;
  failed = false;

  constructor(name: FunctionName, bundles: string, env: Record<string, string>) {
    const declaration = functions[name] as { timeoutSeconds?: number; memoryMb?: number };
    const setup: WorkerSetup = {
      entry: path.join(bundles, `${name}.js`),
      functionName: localFunctionName(name),
      invokedFunctionArn: localFunctionArn(name),
      timeoutSeconds: declaration.timeoutSeconds ?? 10,
      memoryMb: declaration.memoryMb ?? 256,
    };
    // Nothing of this process is inherited: not its environment, not its loader flags. Source
    // maps as the CDK construct turns them on (NODE_OPTIONS=--enable-source-maps).
    this.worker = new Worker(path.join(bundles, WORKER_BUNDLE), { env, execArgv: ['--enable-source-maps'], workerData: setup });
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (reply: WorkerReply) => {
        if (reply.kind === 'ready') resolve();
        else if (reply.kind === 'init-failed') {
          this.failed = true;
          reject(new FunctionError(reply.error.name, reply.error.message, reply.error.stack));
          void this.worker.terminate();
        } else {
          const waiter = this.pending.get(reply.id);
          this.pending.delete(reply.id);
          if (reply.kind === 'result') waiter?.resolve(reply.result);
          else waiter?.reject(new FunctionError(reply.error.name, reply.error.message, reply.error.stack));
        }
      };
      this.worker.on('message', onMessage);
      this.worker.on('error', (error) => {
        this.failed = true;
        reject(error);
        for (const waiter of this.pending.values()) waiter.reject(error);
        this.pending.clear();
      });
    });
    this.ready.catch(() => undefined);
  }

  async invoke(event: unknown): Promise<unknown> {
    await this.ready;
    const id = this.nextId++;
    const result = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    const request: WorkerRequest = { id, event, traceId: traceHeader() };
    this.worker.postMessage(request);
    return result;
  }

  stop(): Promise<number> {
    return this.worker.terminate();
  }
}

let config: FunctionRuntimeConfig | undefined;
const instances = new Map<FunctionName, FunctionInstance>();

/** Called by the local stack before it serves anything: how each function's environment is made. */
export const configureFunctionRuntime = (runtime: FunctionRuntimeConfig): void => {
  config = runtime;
};

/** Ends every function instance (the stack stops). */
export const stopFunctions = async (): Promise<void> => {
  const running = [...instances.values()];
  instances.clear();
  await Promise.all(running.map((instance) => instance.stop()));
};

/** Runs a catalog function the way the Lambda runtime would call its handler, in its own instance. */
export const invokeFunction = async (name: FunctionName, event: unknown): Promise<unknown> => {
  if (!config) throw new Error('The function runtime is not configured: start the local stack first');
  let instance = instances.get(name);
  if (!instance || instance.failed) {
    instance = new FunctionInstance(name, config.bundles, config.environmentOf(name));
    instances.set(name, instance);
  }
  const started = performance.now();
  try {
    return await instance.invoke(event);
  } finally {
    localMetrics.lambdaInvoked(name, performance.now() - started);
  }
};
