import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { queues, type QueueDeclaration, type QueueName } from '../../functions/resources.ts';
import type { DeclaredQueue } from './declared.ts';

/** Properties of {@link Agents}. */
export interface AgentsProps {
  /** How long an unprocessable message stays in a dead-letter queue. @default Duration.days(14) */
  readonly deadLetterRetention?: Duration;
  /** @default RemovalPolicy.DESTROY (messages are transient; agents and the workflow retry) */
  readonly removalPolicy?: RemovalPolicy;
}

const pascal = (name: string): string => name.charAt(0).toUpperCase() + name.slice(1);

/**
 * The shared queues of DESIGN §6 (the agents' reply queue), one per declaration in
 * `functions/resources.ts`, each with its dead-letter queue after `maxReceiveCount` receives.
 * SQS-managed encryption and TLS-only queue policies on both. The per-agent request queues are
 * created at enrolment, not here.
 */
export class Agents extends Construct {
  public readonly queues: Record<QueueName, DeclaredQueue>;
  public readonly deadLetterQueues: Record<QueueName, sqs.Queue>;

  constructor(scope: Construct, id: string, props: AgentsProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const created = {} as Record<QueueName, DeclaredQueue>;
    const dlqs = {} as Record<QueueName, sqs.Queue>;
    for (const [name, declaration] of Object.entries(queues) as [QueueName, QueueDeclaration][]) {
      const deadLetterQueue = new sqs.Queue(this, `${pascal(name)}DeadLetterQueue`, {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: props.deadLetterRetention ?? Duration.days(14),
        removalPolicy,
      });
      const visibilityTimeout = Duration.seconds(declaration.visibilityTimeoutSeconds);
      const queue = new sqs.Queue(this, `${pascal(name)}Queue`, {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        visibilityTimeout,
        deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: declaration.maxReceiveCount },
        removalPolicy,
      });
      created[name] = { queue, envVar: declaration.envVar, visibilityTimeout };
      dlqs[name] = deadLetterQueue;
    }
    this.queues = created;
    this.deadLetterQueues = dlqs;
  }
}
