import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buckets, queues, tables, type QueueDeclaration, type TableDeclaration } from '../../functions/resources.ts';
import { logicalId, resourceMatches, synthLatchkey, type Synthesized } from './synth.ts';

let synthesized: Synthesized;
beforeAll(() => {
  synthesized = synthLatchkey();
});
afterAll(() => synthesized?.dispose());

const tableEntries = Object.entries(tables) as [keyof typeof tables, TableDeclaration][];
const queueEntries = Object.entries(queues) as [keyof typeof queues, QueueDeclaration][];

describe('tables (DESIGN §3, from functions/resources.ts)', () => {
  it('creates exactly the declared tables', () => {
    synthesized.statefulTemplate.resourceCountIs('AWS::DynamoDB::Table', tableEntries.length);
  });

  it.each(tableEntries)('%s: keys, indexes and TTL as declared; on-demand, PITR, encrypted, retained', (name, declaration) => {
    // Prepare
    const { stateful, statefulTemplate } = synthesized;
    const id = logicalId(stateful, stateful.data.tables[name].table);
    const indexes = declaration.globalIndexes;
    const attributes = [
      declaration.partitionKey,
      declaration.sortKey,
      ...indexes.flatMap((index) => [index.partitionKey, index.sortKey]),
    ];

    // Assess
    resourceMatches(statefulTemplate, id, {
      Type: 'AWS::DynamoDB::Table',
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        KeySchema: [
          { AttributeName: declaration.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: declaration.sortKey.name, KeyType: 'RANGE' },
        ],
        AttributeDefinitions: Match.arrayWith(
          attributes.map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
        ),
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
        GlobalSecondaryIndexes:
          indexes.length === 0
            ? Match.absent()
            : indexes.map((index) => ({
                IndexName: index.indexName,
                KeySchema: [
                  { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
                  { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
                ],
                Projection: { ProjectionType: 'ALL' },
              })),
        TimeToLiveSpecification:
          declaration.timeToLiveAttribute === undefined
            ? Match.absent()
            : { AttributeName: declaration.timeToLiveAttribute, Enabled: true },
      },
    });
  });
});

describe('TTL (issue 18): an epoch-seconds attribute, only on the tables of items meant to vanish', () => {
  it('directory (enrolments, tokens) and deployments (approval links) expire on `ttl`; wrapped keys never', () => {
    expect(tables.directory.timeToLiveAttribute).toBe('ttl');
    expect(tables.deployments.timeToLiveAttribute).toBe('ttl');
    expect('timeToLiveAttribute' in tables.wrappedKeys).toBe(false);
    const { stateful, statefulTemplate } = synthesized;
    const ttlOf = (name: keyof typeof tables) =>
      statefulTemplate.toJSON().Resources[logicalId(stateful, stateful.data.tables[name].table)].Properties.TimeToLiveSpecification;
    expect(ttlOf('directory')).toEqual({ AttributeName: 'ttl', Enabled: true });
    expect(ttlOf('deployments')).toEqual({ AttributeName: 'ttl', Enabled: true });
    expect(ttlOf('wrappedKeys')).toBeUndefined();
  });
});

describe('releases bucket', () => {
  const bucketNames = Object.keys(buckets) as (keyof typeof buckets)[];

  it.each(bucketNames)('%s: public access blocked, SSE, versioned, ACLs off, access-logged, retained', (name) => {
    const { stateful, statefulTemplate } = synthesized;
    const id = logicalId(stateful, stateful.releases.buckets[name].bucket);
    resourceMatches(statefulTemplate, id, {
      Type: 'AWS::S3::Bucket',
      DeletionPolicy: 'Retain',
      Properties: {
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        VersioningConfiguration: { Status: 'Enabled' },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LoggingConfiguration: {
          DestinationBucketName: { Ref: logicalId(stateful, stateful.releases.accessLogs) },
          LogFilePrefix: `${name}/`,
        },
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 }, Status: 'Enabled' }),
            // Staged single uploads (copied next to their release at completion) do not linger.
            Match.objectLike({ Prefix: 'staging/', ExpirationInDays: 2, Status: 'Enabled' }),
          ]),
        },
      },
    });
  });

  it.each(bucketNames)('%s: the bucket policy denies every request without TLS', (name) => {
    const { stateful, statefulTemplate } = synthesized;
    const id = logicalId(stateful, stateful.releases.buckets[name].bucket);
    statefulTemplate.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: id },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Resource: [
              { 'Fn::GetAtt': [id, 'Arn'] },
              { 'Fn::Join': ['', [{ 'Fn::GetAtt': [id, 'Arn'] }, '/*']] },
            ],
          }),
        ]),
      },
    });
  });
});

describe('agent reply queue', () => {
  it('creates each declared queue with a dead-letter queue, and nothing else', () => {
    synthesized.statefulTemplate.resourceCountIs('AWS::SQS::Queue', queueEntries.length * 2);
  });

  it.each(queueEntries)('%s: visibility, redrive to its DLQ after maxReceiveCount, SSE', (name, declaration) => {
    const { stateful, statefulTemplate } = synthesized;
    const queueId = logicalId(stateful, stateful.agents.queues[name].queue as never);
    const dlqId = logicalId(stateful, stateful.agents.deadLetterQueues[name]);
    resourceMatches(statefulTemplate, queueId, {
      Type: 'AWS::SQS::Queue',
      Properties: {
        VisibilityTimeout: declaration.visibilityTimeoutSeconds,
        SqsManagedSseEnabled: true,
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: declaration.maxReceiveCount },
      },
    });
    resourceMatches(statefulTemplate, dlqId, {
      Type: 'AWS::SQS::Queue',
      Properties: { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600, RedrivePolicy: Match.absent() },
    });
  });

  it.each(queueEntries)('%s: queue and DLQ policies deny requests without TLS', (name) => {
    const { stateful, statefulTemplate } = synthesized;
    for (const queue of [stateful.agents.queues[name].queue, stateful.agents.deadLetterQueues[name]]) {
      statefulTemplate.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: logicalId(stateful, queue as never) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
  });
});

describe('alarms', () => {
  it.each(queueEntries)('%s: an alarm as soon as a message lands in its dead-letter queue, sent to the alarm topic', (name) => {
    const { stateful, statefulTemplate } = synthesized;
    const dlqId = logicalId(stateful, stateful.agents.deadLetterQueues[name]);
    const topicId = logicalId(stateful, stateful.alarms);
    statefulTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
      Statistic: 'Maximum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topicId }],
    });
  });

  it('the alarm topic is encrypted, TLS-only, and an output says where to subscribe', () => {
    const { stateful, statefulTemplate } = synthesized;
    const topicId = logicalId(stateful, stateful.alarms);
    expect(JSON.stringify(statefulTemplate.toJSON().Resources[topicId].Properties.KmsMasterKeyId)).toContain('alias/aws/sns');
    statefulTemplate.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    statefulTemplate.hasOutput('AlarmTopicArn', { Value: { Ref: topicId } });
  });
});

describe('the stateful stack', () => {
  it('holds no code: no functions, no roles', () => {
    const { statefulTemplate } = synthesized;
    statefulTemplate.resourceCountIs('AWS::Lambda::Function', 0);
    statefulTemplate.resourceCountIs('AWS::IAM::Role', 0);
  });

  it('is environment-agnostic (no account or region fixed at synth time)', () => {
    expect(synthesized.stateful.environment).toBe('aws://unknown-account/unknown-region');
    expect(synthesized.stateless.environment).toBe('aws://unknown-account/unknown-region');
  });
});
