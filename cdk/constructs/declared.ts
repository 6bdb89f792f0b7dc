import type { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';

/**
 * A resource created from a declaration of `functions/resources.ts`, together with what a
 * function needs to bind to it: the environment variable that carries its physical name, and
 * (for tables) the indexes a read grant must cover.
 */
export interface DeclaredTable {
  readonly table: dynamodb.ITable;
  readonly envVar: string;
  /** Global secondary indexes, granted by name (never `index/*`). */
  readonly indexNames: readonly string[];
}

export interface DeclaredQueue {
  readonly queue: sqs.IQueue;
  readonly envVar: string;
  readonly visibilityTimeout: Duration;
}

export interface DeclaredBucket {
  readonly bucket: s3.IBucket;
  readonly envVar: string;
}

export interface DeclaredStateMachine {
  readonly stateMachine: sfn.IStateMachine;
  readonly envVar: string;
}
