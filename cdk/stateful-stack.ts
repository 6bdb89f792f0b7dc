import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { Agents } from './constructs/agents.ts';
import { Data } from './constructs/data.ts';
import { Releases } from './constructs/releases.ts';

/** Properties of {@link StatefulStack}. */
export interface StatefulStackProps extends StackProps {
  /**
   * Removal policy of tables and buckets. Use DESTROY only for throw-away stages.
   * @default RemovalPolicy.RETAIN
   */
  readonly dataRemovalPolicy?: RemovalPolicy;
}

/**
 * What holds state: the three tables, the releases bucket, the agents' reply queue and its DLQ.
 * Deployed apart from the stateless stack so that code changes never touch data.
 */
export class StatefulStack extends Stack {
  public readonly data: Data;
  public readonly releases: Releases;
  public readonly agents: Agents;
  /** The SNS topic every alarm notifies. */
  public readonly alarms: sns.Topic;

  constructor(scope: Construct, id: string, props: StatefulStackProps = {}) {
    super(scope, id, props);
    const removalPolicy = props.dataRemovalPolicy ?? RemovalPolicy.RETAIN;
    this.data = new Data(this, 'Data', { removalPolicy });
    this.releases = new Releases(this, 'Releases', { removalPolicy });
    // Every alarm of the app goes here; subscribe to it (README, "Deploy to AWS").
    this.alarms = new sns.Topic(this, 'Alarms', {
      displayName: 'Latchkey alarms',
      enforceSSL: true,
      masterKey: kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarms.topicArn, description: 'SNS topic of the Latchkey alarms: subscribe to be told' });
    this.agents = new Agents(this, 'Agents', { alarmTopic: this.alarms });
  }
}
