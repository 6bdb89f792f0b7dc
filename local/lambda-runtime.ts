import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { functions, type FunctionName } from '#functions/catalog.ts';
import { localMetrics } from './metrics.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..');
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';
const FUNCTION_PREFIX = 'latchkey-';

export const localFunctionArn = (name: FunctionName): string =>
  `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${FUNCTION_PREFIX}${name}`;

/** Accepts a bare name, a local function name or its ARN, as Lambda's FunctionName does. */
export const functionNameOf = (nameOrArn: string): FunctionName | undefined => {
  const bare = nameOrArn.split(':function:').pop()!.split(':')[0]!.replace(FUNCTION_PREFIX, '');
  return bare in functions ? (bare as FunctionName) : undefined;
};

type Handler = (event: unknown, context: Context) => Promise<unknown>;
const loaded = new Map<FunctionName, Promise<Handler>>();

const load = (name: FunctionName): Promise<Handler> => {
  let handler = loaded.get(name);
  if (!handler) {
    const file = pathToFileURL(path.join(REPO_ROOT, functions[name].entry)).href;
    handler = import(file).then((module: { handler: Handler }) => module.handler);
    loaded.set(name, handler);
  }
  return handler;
};

const contextFor = (name: FunctionName): Context => {
  const deadline = Date.now() + (('timeoutSeconds' in functions[name] ? functions[name].timeoutSeconds : 10) as number) * 1000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: FUNCTION_PREFIX + name,
    functionVersion: '$LATEST',
    invokedFunctionArn: localFunctionArn(name),
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${FUNCTION_PREFIX}${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
};

/** Runs a catalog function in this process, the way the Lambda runtime would call its handler. */
export const invokeFunction = async (name: FunctionName, event: unknown): Promise<unknown> => {
  const handler = await load(name);
  const started = performance.now();
  try {
    return await handler(event, contextFor(name));
  } finally {
    localMetrics.lambdaInvoked(name, performance.now() - started);
  }
};
