/**
 * The stateful resources, declared once. The CDK app builds them in the cloud and the local
 * stack creates them in the emulators from these same declarations, so the two cannot drift.
 * Names here are logical: CDK generates the physical names, the local stack prefixes them.
 */

export type KeyAttribute = { name: string; type: 'S' | 'N' };

export type TableDeclaration = {
  /** Environment variable through which a bound function learns the physical table name. */
  envVar: string;
  partitionKey: KeyAttribute;
  sortKey: KeyAttribute;
  globalIndexes: { indexName: string; partitionKey: KeyAttribute; sortKey: KeyAttribute }[];
  /**
   * DynamoDB TTL: an epoch-seconds attribute, set only on items meant to vanish (approval links,
   * enrolments, API tokens with an expiry), never on deployments or audit events. It only tidies
   * up: expiry is always checked on read (and dynalite has no TTL).
   */
  timeToLiveAttribute?: string;
};

const pk: KeyAttribute = { name: 'pk', type: 'S' };
const sk: KeyAttribute = { name: 'sk', type: 'S' };

export const tables = {
  directory: {
    envVar: 'DIRECTORY_TABLE',
    partitionKey: pk,
    sortKey: sk,
    globalIndexes: [
      { indexName: 'gsi1', partitionKey: { name: 'gsi1pk', type: 'S' }, sortKey: { name: 'gsi1sk', type: 'S' } },
    ],
    timeToLiveAttribute: 'ttl',
  },
  deployments: {
    envVar: 'DEPLOYMENTS_TABLE',
    partitionKey: pk,
    sortKey: sk,
    globalIndexes: [
      { indexName: 'gsi1', partitionKey: { name: 'gsi1pk', type: 'S' }, sortKey: { name: 'gsi1sk', type: 'S' } },
    ],
    timeToLiveAttribute: 'ttl',
  },
  wrappedKeys: {
    envVar: 'WRAPPED_KEYS_TABLE',
    partitionKey: pk,
    sortKey: sk,
    globalIndexes: [],
  },
} as const satisfies Record<string, TableDeclaration>;

export type TableName = keyof typeof tables;

export type QueueDeclaration = {
  envVar: string;
  /** Catalog name of the function that consumes the queue (batch events, partial batch failures). */
  consumer?: string;
  visibilityTimeoutSeconds: number;
  /** Receives after which a message moves to the dead-letter queue. */
  maxReceiveCount: number;
  batchSize: number;
};

export const queues = {
  agentReplies: {
    envVar: 'AGENT_REPLY_QUEUE_URL',
    consumer: 'consume-agent-replies',
    visibilityTimeoutSeconds: 180,
    maxReceiveCount: 5,
    batchSize: 10,
  },
} as const satisfies Record<string, QueueDeclaration>;

export type QueueName = keyof typeof queues;

export const buckets = {
  releases: { envVar: 'RELEASES_BUCKET' },
} as const satisfies Record<string, { envVar: string }>;

export type BucketName = keyof typeof buckets;

export type StateMachineDeclaration = {
  envVar: string;
  /** Amazon States Language file, relative to the repository root. */
  definitionFile: string;
  /** `${Key}` in the definition -> catalog name of the Lambda function whose ARN replaces it. */
  functionSubstitutions: Record<string, string>;
};

/**
 * `${Partition}` in a definition: the ARN partition (`aws`, `aws-cn`, `aws-us-gov`), so service
 * integration ARNs (`arn:${Partition}:states:::lambda:invoke`) are right in every partition.
 */
export const PARTITION_SUBSTITUTION = 'Partition';

export const stateMachines = {
  deployment: {
    envVar: 'DEPLOYMENT_STATE_MACHINE_ARN',
    definitionFile: 'functions/workflow/deployment.asl.json',
    functionSubstitutions: {
      NotifyApproversFunctionArn: 'notify-approvers',
      ParkTaskTokenFunctionArn: 'park-task-token',
      ExpireDeploymentFunctionArn: 'expire-deployment',
      PrepareDeployFunctionArn: 'prepare-deploy',
      RequestDeployGrantFunctionArn: 'request-deploy-grant',
      DispatchDeployFunctionArn: 'dispatch-deploy',
      SettleDeployFunctionArn: 'settle-deploy',
      FinishDeploymentFunctionArn: 'finish-deployment',
      FailDeploymentFunctionArn: 'fail-deployment',
    },
  },
} as const satisfies Record<string, StateMachineDeclaration>;

export type StateMachineName = keyof typeof stateMachines;
