import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { functions, type FunctionDeclaration } from '#functions/catalog.ts';
import { buckets, queues, stateMachines, tables } from '#functions/resources.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

/** The environment CDK gives a function: its bindings' variables and the common ones, no more. */
const environmentOf = (declaration: FunctionDeclaration): Record<string, string> => {
  const bind = declaration.bind;
  const env: Record<string, string> = { AGENT_ONLINE_SECONDS: '30', AGENT_HEARTBEAT_SECONDS: '10', AGENT_ACK_SECONDS: '5' };
  for (const table of Object.keys(bind.tables ?? {})) env[tables[table as keyof typeof tables].envVar] = `t-${table}`;
  for (const queue of Object.keys(bind.queues ?? {})) env[queues[queue as keyof typeof queues].envVar] = `https://sqs.us-east-1.amazonaws.com/1/${queue}`;
  for (const bucket of Object.keys(bind.buckets ?? {})) env[buckets[bucket as keyof typeof buckets].envVar] = `b-${bucket}`;
  for (const [machine, access] of Object.entries(bind.stateMachines ?? {})) {
    if (access === 'start') env[stateMachines[machine as keyof typeof stateMachines].envVar] = 'arn:aws:states:us-east-1:1:stateMachine:x';
  }
  if (bind.mail) Object.assign(env, { MAIL_FROM: 'a@example.com', PUBLIC_API_URL: 'https://api.example.com' });
  if (bind.agentQueues) env.AGENT_QUEUE_PREFIX = 'p-';
  if (bind.agentCredentials) env.AGENT_ROLE_ARN = 'arn:aws:iam::1:role/agent';
  return env;
};

describe('cold start with exactly the bound environment', () => {
  it('every function module loads (config read at cold start finds what its bindings give it)', async () => {
    const entries = Object.entries(functions) as [string, FunctionDeclaration][];
    const failures: string[] = [];
    const pending = [...entries];
    const worker = async () => {
      for (let next = pending.shift(); next; next = pending.shift()) {
        const [name, declaration] = next;
        try {
          await run(process.execPath, ['--import', 'tsx', '-e', `await import(${JSON.stringify(path.join(root, declaration.entry))})`], {
            cwd: root,
            env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...environmentOf(declaration) },
            timeout: 60_000,
          });
        } catch (error) {
          failures.push(`${name}: ${((error as { stderr?: string }).stderr ?? String(error)).match(/Missing environment variable \w+|\w*Error: .*/)?.[0] ?? 'failed'}`);
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    expect(failures).toEqual([]);
  }, 240_000);
});
