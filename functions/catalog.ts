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
  /** Sends email through SES from MAIL_FROM, with links to PUBLIC_API_URL. */
  mail?: true;
  /**
   * The per-agent request queues (named AGENT_QUEUE_PREFIX + agent id): `send` puts requests on
   * them, `manage` also creates and deletes them.
   */
  agentQueues?: 'send' | 'manage';
  /** Hands agents short-lived credentials for their own queue and the reply queue (AGENT_ROLE_ARN). */
  agentCredentials?: true;
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

// Routes of the directory: they read or write it, and append to the audit trail (kept in the
// deployments table) for every change and every refusal.
const directoryWriter: Bindings = { tables: { directory: 'RW', deployments: 'RW' } };
const directoryReader: Bindings = { tables: { directory: 'RO', deployments: 'RW' } };

// Release routes presign uploads, check uploaded objects, and read the application.
const releaseWriter: Bindings = { tables: { directory: 'RO', deployments: 'RW' }, buckets: { releases: 'readwrite' } };
const releaseReader: Bindings = { tables: { directory: 'RO', deployments: 'RW' } };

// Actions on a deployment write it and, when they decide a wait, answer the workflow's token.
const deploymentActor: Bindings = { tables: { directory: 'RO', deployments: 'RW' }, stateMachines: { deployment: 'respond' } };

const workflow = (name: string, bind: Bindings): FunctionDeclaration => ({ entry: `functions/workflow/${name}.ts`, bind });

const api = (name: string, bind: Bindings): FunctionDeclaration => ({ entry: `functions/api/${name}.ts`, bind });

export const functions = {
  health: api('health', {}),
  openapi: api('openapi', {}),
  'create-account': api('create-account', directoryWriter),
  'create-user': api('create-user', directoryWriter),
  'create-token': api('create-token', directoryWriter),
  'revoke-token': api('revoke-token', directoryWriter),
  'create-group': api('create-group', directoryWriter),
  'add-group-member': api('add-group-member', directoryWriter),
  'remove-group-member': api('remove-group-member', directoryWriter),
  'create-environment': api('create-environment', directoryWriter),
  'update-environment': api('update-environment', directoryWriter),
  'create-app': api('create-app', directoryWriter),
  'update-app': api('update-app', directoryWriter),
  'create-enrolment': api('create-enrolment', directoryWriter),
  'set-owner-key': api('set-owner-key', directoryWriter),
  'set-signing-key': api('set-signing-key', directoryWriter),
  'vouch-signing-key': api('vouch-signing-key', directoryWriter),
  'sign-enrolment': api('sign-enrolment', directoryWriter),
  'get-enrolment': api('get-enrolment', { tables: { directory: 'RO' } }),
  'enrol-agent': api('enrol-agent', { tables: { directory: 'RW', deployments: 'RW', wrappedKeys: 'RO' }, agentQueues: 'manage' }),
  'list-agents': api('list-agents', { tables: { directory: 'RO', deployments: 'RW', wrappedKeys: 'RO' } }),
  'put-statement': api('put-statement', { tables: { directory: 'RW', deployments: 'RW' } }),
  'list-statements': api('list-statements', { tables: { directory: 'RO', deployments: 'RW' } }),
  'get-master-key': api('get-master-key', { tables: { directory: 'RO', deployments: 'RW', wrappedKeys: 'RO' } }),
  // Removing a key server asks another for the next master key version (master-keys.ts).
  'remove-agent': api('remove-agent', { tables: { directory: 'RW', deployments: 'RW', wrappedKeys: 'RO' }, agentQueues: 'manage' }),
  // The bucket binding names the releases bucket, whose origin the session tells agents (they download from nowhere else).
  'agent-session': api('agent-session', { tables: { directory: 'RW' }, queues: { agentReplies: 'send' }, agentQueues: 'send', agentCredentials: true, buckets: { releases: 'read' } }),
  // Records the request it sends to the key server (directory table), and the seal on the release.
  'seal-release': api('seal-release', { tables: { directory: 'RW', deployments: 'RW', wrappedKeys: 'RO' }, agentQueues: 'send' }),
  'get-release': api('get-release', directoryReader),
  'get-me': api('get-me', directoryReader),
  'list-users': api('list-users', directoryReader),
  'list-tokens': api('list-tokens', directoryReader),
  'list-groups': api('list-groups', directoryReader),
  'list-environments': api('list-environments', directoryReader),
  'list-apps': api('list-apps', directoryReader),
  'list-audit': api('list-audit', directoryReader),
  'verify-audit': api('verify-audit', directoryReader),
  'create-release': api('create-release', releaseWriter),
  // Completing a large multipart upload can take S3 a while: as long as API Gateway waits (30 s).
  'complete-release': { ...api('complete-release', releaseWriter), timeoutSeconds: 29 },
  'renew-release-upload': api('renew-release-upload', releaseWriter),
  'list-releases': api('list-releases', releaseReader),
  'create-deployment': api('create-deployment', { ...deploymentActor, stateMachines: { deployment: 'start' } }),
  'list-deployments': api('list-deployments', directoryReader),
  'get-deployment': api('get-deployment', directoryReader),
  'approve-deployment': api('approve-deployment', deploymentActor),
  'decline-deployment': api('decline-deployment', deploymentActor),
  'deploy-deployment': api('deploy-deployment', deploymentActor),
  'cancel-deployment': api('cancel-deployment', deploymentActor),
  // The approval page: no bearer token, the link's secret is the credential.
  'approval-page': api('approval-page', { tables: { directory: 'RO', deployments: 'RW' } }),
  'approval-action': api('approval-action', deploymentActor),
  // What a passkey signs on that page: reads the link, the deployment and the approver's person statement.
  'approval-challenge': api('approval-challenge', { tables: { directory: 'RO', deployments: 'RW' } }),
  'web-asset': api('web-asset', {}),
  'notify-approvers': workflow('notify-approvers', { tables: { directory: 'RO', deployments: 'RW' }, mail: true }),
  'park-task-token': workflow('park-task-token', { tables: { deployments: 'RW' }, stateMachines: { deployment: 'respond' } }),
  'expire-deployment': workflow('expire-deployment', { tables: { directory: 'RO', deployments: 'RW' } }),
  // The deploy step: plan, one key-server grant request, the target requests, the outcome.
  'prepare-deploy': workflow('prepare-deploy', { tables: { directory: 'RO', deployments: 'RW', wrappedKeys: 'RO' } }),
  'request-deploy-grant': workflow('request-deploy-grant', { tables: { directory: 'RW', deployments: 'RW', wrappedKeys: 'RO' }, stateMachines: { deployment: 'respond' }, agentQueues: 'send' }),
  'dispatch-deploy': {
    ...workflow('dispatch-deploy', { tables: { directory: 'RW', deployments: 'RW', wrappedKeys: 'RW' }, buckets: { releases: 'read' }, stateMachines: { deployment: 'respond' }, agentQueues: 'send' }),
    timeoutSeconds: 30,
  },
  'settle-deploy': workflow('settle-deploy', { tables: { directory: 'RO', deployments: 'RW' } }),
  'finish-deployment': workflow('finish-deployment', { tables: { directory: 'RO', deployments: 'RW' } }),
  // Every step's final Catch: the deployment ends Failed, with the reason.
  'fail-deployment': workflow('fail-deployment', { tables: { directory: 'RO', deployments: 'RW' } }),
  'set-user-status': api('set-user-status', directoryWriter),
  'revoke-user-tokens': api('revoke-user-tokens', directoryWriter),
  'consume-agent-replies': {
    entry: 'functions/agents/consume-agent-replies.ts',
    bind: { tables: { directory: 'RW', deployments: 'RW', wrappedKeys: 'RW' }, stateMachines: { deployment: 'respond' }, agentQueues: 'send' },
    timeoutSeconds: 30,
  },
} as const satisfies Record<string, FunctionDeclaration>;

export type FunctionName = keyof typeof functions;
