import type { BucketName, QueueName, StateMachineName, TableName } from './resources.ts';

/**
 * Every Lambda function and what it may touch. CDK turns each binding into an environment
 * variable plus a least-privilege grant; the local stack runs the same entry files in-process.
 */
export type Bindings = {
  tables?: Partial<Record<TableName, 'RO' | 'RW'>>;
  queues?: Partial<Record<QueueName, 'send'>>;
  /** `presign` signs short-lived GET/PUT URLs, so the function itself needs read/write. */
  buckets?: Partial<Record<BucketName, 'read' | 'readwrite'>>;
  /** `start` runs executions; `respond` sends task success/failure/heartbeat. */
  stateMachines?: Partial<Record<StateMachineName, 'start' | 'respond'>>;
};

export type FunctionDeclaration = {
  /** Handler file relative to the repository root; it exports `handler`. */
  entry: string;
  bind: Bindings;
  /** Default 10 s. */
  timeoutSeconds?: number;
  /** Default 256 MB. */
  memoryMb?: number;
};

export const functions = {
  health: { entry: 'functions/api/health.ts', bind: {} },
  'create-account': { entry: 'functions/api/create-account.ts', bind: { tables: { directory: 'RW' } } },
  'park-task-token': { entry: 'functions/workflow/park-task-token.ts', bind: { tables: { deployments: 'RW' } } },
  'consume-agent-replies': {
    entry: 'functions/agents/consume-agent-replies.ts',
    bind: { stateMachines: { deployment: 'respond' } },
    timeoutSeconds: 30,
  },
} as const satisfies Record<string, FunctionDeclaration>;

export type FunctionName = keyof typeof functions;
