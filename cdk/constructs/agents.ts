import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
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
  /** Where alarms are sent. @default - alarms without actions */
  readonly alarmTopic?: sns.ITopic;
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
      // A message here was given up on: an agent's reply (a report, a grant) the backend never
      // recorded. Someone must look (and redrive it once fixed).
      const alarm = new cloudwatch.Alarm(this, `${pascal(name)}DeadLetterAlarm`, {
        alarmDescription: `Latchkey: messages in the ${name} dead-letter queue (replies that could not be processed)`,
        metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (props.alarmTopic) alarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alarmTopic));
    }
    this.queues = created;
    this.deadLetterQueues = dlqs;
  }
}
