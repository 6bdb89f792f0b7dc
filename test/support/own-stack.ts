import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, inject } from 'vitest';
import type { Endpoints } from '../../local/stack.ts';

const root = path.resolve(import.meta.dirname, '../..');

export type OwnStack = {
  endpoints: Endpoints;
  /** What the stack's functions are configured with (table names, queue URLs, ARNs). */
  env: Record<string, string>;
  child: ChildProcess;
  /** When it started serving. */
  startedAt: number;
  /** What it wrote on stderr so far, to say why it died. */
  stderr: () => string;
  /** Stops it and waits for the process to exit (nothing if it already did). */
  stop: (signal?: 'SIGTERM' | 'SIGKILL') => Promise<void>;
};

/**
 * The local stack as `npm start -- --port 0 --json` runs it, in a child process on free ports:
 * the one of the whole run (global-setup.ts), and the ones of files that restart a stack or need
 * it configured otherwise. `env` is laid over the runner's environment; every line the stack
 * writes is appended to `logPath` when given.
 */
export const startOwnStack = async (
  options: { dataDir?: string; env?: Record<string, string>; logPath?: string; assembly?: string } = {},
): Promise<OwnStack> => {
  const args = [
    '--import',
    'tsx',
    'local/main.ts',
    '--port',
    '0',
    '--json',
    ...(options.dataDir ? ['--data', options.dataDir] : []),
    ...(options.assembly ? ['--assembly', options.assembly] : []),
  ];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  if (options.logPath) {
    const log = createWriteStream(options.logPath, { flags: 'a' });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
  }
  const started = await new Promise<{ endpoints: Endpoints; env: Record<string, string> }>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`the local stack did not start in 60 s:\n${stderr.join('')}`)), 60_000);
    child.once('exit', (code, signal) => reject(new Error(`the local stack exited with ${code ?? signal}:\n${stderr.join('')}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(deadline);
      resolve(JSON.parse(line));
    });
  });
  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  };
  return { ...started, child, startedAt: Date.now(), stderr: () => stderr.join(''), stop };
};

/**
 * Points this test file's support helpers, which read the endpoints and settings global-setup.ts
 * provides (clients.ts, http.ts, the CLI session), at `stack` instead; returns the undo. For a
 * file whose stack must be configured otherwise than the shared one (e.g. short deploy timeouts).
 */
export const serveFileFrom = (stack: Pick<OwnStack, 'endpoints' | 'env'>) => {
  const endpoints = inject('endpoints');
  const env = inject('stackEnv');
  const saved = { endpoints: { ...endpoints }, env: { ...env } };
  Object.assign(endpoints, stack.endpoints);
  Object.assign(env, stack.env);
  return () => {
    Object.assign(endpoints, saved.endpoints);
    Object.assign(env, saved.env);
  };
};

/**
 * The app synthesized for the local stack (agent timings as the suite's shared stack has them),
 * with `edit` applied to its stateless template: for files whose stack must run functions with
 * other IAM policies than the app gives them (the test says why).
 */
export const editedAssembly = async (edit: (stateless: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> }) => void) => {
  const { localAssembly } = await import('../../local/iam/local-synth.ts');
  const { LOCAL_MAIL_FROM } = await import('../../local/stack.ts');
  const source = await localAssembly({ stage: 'local', mailFrom: LOCAL_MAIL_FROM, agentOnlineSeconds: 5, agentHeartbeatSeconds: 1 });
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-edited-assembly-'));
  await cp(source, dir, { recursive: true });
  const file = path.join(dir, 'Latchkey-local-Stateless.template.json');
  const template = JSON.parse(await readFile(file, 'utf8'));
  edit(template);
  await writeFile(file, JSON.stringify(template));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
};

/**
 * A stack of this test file's own for its whole run, with the support helpers pointed at it:
 * for files that need it configured otherwise, or empty of every other file's data. `logPath`
 * receives what it writes; `assembly` (see editedAssembly) gives its functions their policies.
 */
export const useOwnStack = (
  env: Record<string, string> = {},
  options: { logPath?: string; assembly?: () => Promise<{ dir: string; remove: () => Promise<void> }> } = {},
) => {
  let stack: OwnStack | undefined;
  let undo: (() => void) | undefined;
  let assembly: { dir: string; remove: () => Promise<void> } | undefined;
  beforeAll(async () => {
    const logPath = options.logPath ?? process.env.LATCHKEY_STACK_LOG;
    assembly = await options.assembly?.();
    stack = await startOwnStack({
      env: { POWERTOOLS_LOG_LEVEL: 'ERROR', ...env },
      ...(logPath ? { logPath } : {}),
      ...(assembly ? { assembly: assembly.dir } : {}),
    });
    undo = serveFileFrom(stack);
  }, 90_000);
  afterAll(async () => {
    undo?.();
    await stack?.stop();
    await assembly?.remove();
  });
};

/**
 * The reply consumer's grant to answer task tokens widened from the deployment state machine to
 * every state machine of the account: for the files that drive the consumer with state machines
 * of their own (in AWS, as here, its role answers only the deployment workflow's tokens).
 */
export const consumerAnswersAnyStateMachine = () =>
  editedAssembly((stateless) => {
    const respond = Object.entries(stateless.Resources).filter(([id, r]) => r.Type === 'AWS::IAM::Policy' && id.startsWith('ConsumeAgentRepliesFunctionRespond'));
    if (respond.length !== 1) throw new Error(`expected one respond policy of the reply consumer, found ${respond.length}`);
    const document = respond[0]![1].Properties.PolicyDocument as { Statement: { Resource: unknown }[] };
    for (const statement of document.Statement) {
      statement.Resource = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':stateMachine:*']] };
    }
  });
