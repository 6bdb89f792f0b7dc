/**
 * One function instance of the local stack (local/lambda-runtime.ts): a worker thread that
 * loads the function's handler with only the environment the function was given, then runs one
 * invocation per message, the way the Lambda runtime calls a handler.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import type { Context } from 'aws-lambda';

export type WorkerSetup = { entry: string; functionName: string; invokedFunctionArn: string; timeoutSeconds: number; memoryMb: number };
export type WorkerRequest = { id: number; event: unknown; traceId: string };
type SerializedError = { name: string; message: string; stack?: string };
export type WorkerReply =
  | { kind: 'ready' }
  | { kind: 'init-failed'; error: SerializedError }
  | { kind: 'result'; id: number; result: unknown }
  | { kind: 'error'; id: number; error: SerializedError };

type Handler = (event: unknown, context: Context) => Promise<unknown>;

const serialize = (error: unknown): SerializedError => {
  const err = error instanceof Error ? error : new Error(String(error));
  return { name: err.name || 'Error', message: err.message, ...(err.stack ? { stack: err.stack } : {}) };
};

const setup = workerData as WorkerSetup;
const port = parentPort!;
const reply = (message: WorkerReply) => port.postMessage(message);

const contextFor = (): Context => {
  const deadline = Date.now() + setup.timeoutSeconds * 1000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: setup.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: setup.invokedFunctionArn,
    memoryLimitInMB: String(setup.memoryMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${setup.functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
};

const handler = await import(pathToFileURL(setup.entry).href).then(
  (module: { handler: Handler }) => module.handler,
  (error: unknown) => {
    // Lambda reports a failed initialisation to the invocation, and starts afresh on the next one.
    reply({ kind: 'init-failed', error: serialize(error) });
    return undefined;
  },
);

if (handler) {
  port.on('message', (request: WorkerRequest) => {
    // Lambda sets the trace header of each invocation in the environment; loggers read it there.
    process.env._X_AMZN_TRACE_ID = request.traceId;
    handler(request.event, contextFor()).then(
      (result) => reply({ kind: 'result', id: request.id, result }),
      (error: unknown) => reply({ kind: 'error', id: request.id, error: serialize(error) }),
    );
  });
  reply({ kind: 'ready' });
}
