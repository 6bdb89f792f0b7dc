import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateTableCommand, ResourceInUseException, waitUntilTableExists, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { CreateStateMachineCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { buckets, PARTITION_SUBSTITUTION, queues, stateMachines, tables, type TableDeclaration } from '#functions/resources.ts';
import type { FunctionName } from '#functions/catalog.ts';
import { localFunctionArn, REPO_ROOT } from './lambda-runtime.ts';

/** Local physical names: fixed, since one local stack runs per data directory. */
export const localName = (logical: string) => `latchkey-${logical.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

const createTable = async (dynamodb: DynamoDBClient, name: string, table: TableDeclaration) => {
  const attributes = new Map(
    [table.partitionKey, table.sortKey, ...table.globalIndexes.flatMap((i) => [i.partitionKey, i.sortKey])].map((a) => [a.name, a]),
  );
  try {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [...attributes.values()].map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
        KeySchema: [
          { AttributeName: table.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: table.sortKey.name, KeyType: 'RANGE' },
        ],
        ...(table.globalIndexes.length
          ? {
              GlobalSecondaryIndexes: table.globalIndexes.map((index) => ({
                IndexName: index.indexName,
                KeySchema: [
                  { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
                  { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
                ],
                Projection: { ProjectionType: 'ALL' },
              })),
            }
          : {}),
      }),
    );
  } catch (error) {
    // Kept from an earlier run with --data: the declarations are the same, so is the table.
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: 30, minDelay: 0.1, maxDelay: 0.5 }, { TableName: name });
};

const createQueue = async (sqs: SQSClient, name: string, attributes: Record<string, string>) => {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { url: QueueUrl!, arn: Attributes!.QueueArn! };
};

export type Provisioned = {
  /** Environment a function bound to everything would get: envVar -> physical name, URL or ARN. */
  env: Record<string, string>;
  queues: Record<string, { url: string; arn: string; dlqUrl: string; dlqArn: string }>;
  stateMachines: Record<string, string>;
};

/** Creates every declared table, queue, bucket and state machine in the emulators. */
export const provision = async (clients: { dynamodb: DynamoDBClient; sqs: SQSClient; s3: S3Client; sfn: SFNClient }): Promise<Provisioned> => {
  const env: Record<string, string> = {};
  for (const [logical, table] of Object.entries(tables)) {
    const name = localName(logical);
    await createTable(clients.dynamodb, name, table);
    env[table.envVar] = name;
  }
  for (const [logical, bucket] of Object.entries(buckets)) {
    const name = localName(logical);
    await clients.s3.send(new CreateBucketCommand({ Bucket: name }));
    env[bucket.envVar] = name;
  }
  const made: Provisioned['queues'] = {};
  for (const [logical, queue] of Object.entries(queues)) {
    const dlq = await createQueue(clients.sqs, `${localName(logical)}-dlq`, { MessageRetentionPeriod: '1209600' });
    const main = await createQueue(clients.sqs, localName(logical), {
      VisibilityTimeout: String(queue.visibilityTimeoutSeconds),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: queue.maxReceiveCount }),
    });
    made[logical] = { ...main, dlqUrl: dlq.url, dlqArn: dlq.arn };
    env[queue.envVar] = main.url;
  }
  const machines: Provisioned['stateMachines'] = {};
  for (const [logical, machine] of Object.entries(stateMachines)) {
    let definition = (await readFile(path.join(REPO_ROOT, machine.definitionFile), 'utf8')).replaceAll(`\${${PARTITION_SUBSTITUTION}}`, 'aws');
    for (const [key, fn] of Object.entries(machine.functionSubstitutions)) {
      definition = definition.replaceAll(`\${${key}}`, localFunctionArn(fn as FunctionName));
    }
    const { stateMachineArn } = await clients.sfn.send(
      new CreateStateMachineCommand({ name: localName(logical), definition, roleArn: 'arn:aws:iam::000000000000:role/local' }),
    );
    env[machine.envVar] = stateMachineArn!;
    machines[logical] = stateMachineArn!;
  }
  return { env, queues: made, stateMachines: machines };
};
