import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
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

  constructor(scope: Construct, id: string, props: StatefulStackProps = {}) {
    super(scope, id, props);
    const removalPolicy = props.dataRemovalPolicy ?? RemovalPolicy.RETAIN;
    this.data = new Data(this, 'Data', { removalPolicy });
    this.releases = new Releases(this, 'Releases', { removalPolicy });
    this.agents = new Agents(this, 'Agents');
  }
}
