import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { countDynamoDbRequests } from '../../../local/metrics-emulators.ts';
import { localMetrics } from '../../../local/metrics.ts';
import { serveLocalMetrics } from '../../../local/metrics-endpoint.ts';

describe('local metrics registry', () => {
  beforeEach(() => localMetrics.reset());

  it('bills each Lambda run rounded up to the millisecond, at least 1 ms', () => {
    localMetrics.lambdaInvoked('health', 0.2);
    localMetrics.lambdaInvoked('health', 10.01);
    expect(localMetrics.snapshot().lambda.health).toEqual({ invocations: 2, billedMs: 12 });
  });

  it('a snapshot does not move with later counts; reset starts again', () => {
    localMetrics.httpRequest('GET /health');
    localMetrics.stateTransition();
    const before = localMetrics.snapshot();
    localMetrics.httpRequest('GET /health');
    expect(before.httpApi).toEqual({ 'GET /health': 1 });
    expect(before.stateTransitions).toBe(1);
    localMetrics.reset();
    expect(localMetrics.snapshot().httpApi).toEqual({});
  });
});

describe('local metrics endpoint', () => {
  it('answers a snapshot, resets on POST, knows nothing else; on loopback', async () => {
    localMetrics.reset();
    localMetrics.stateTransition();
    const served = await serveLocalMetrics();
    try {
      expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(((await (await fetch(`${served.url}/metrics`)).json()) as { stateTransitions: number }).stateTransitions).toBe(1);
      expect((await fetch(`${served.url}/metrics/reset`, { method: 'POST' })).status).toBe(204);
      expect(((await (await fetch(`${served.url}/metrics`)).json()) as { stateTransitions: number }).stateTransitions).toBe(0);
      expect((await fetch(`${served.url}/other`)).status).toBe(404);
    } finally {
      await served.close();
    }
  });
});

describe('DynamoDB metering at the emulator', () => {
  const server = dynalite({ createTableMs: 0 });
  let db: DynamoDBDocumentClient;
  const TableName = 'metered';

  beforeAll(async () => {
    countDynamoDbRequests(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const raw = new DynamoDBClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, credentials: { accessKeyId: 'l', secretAccessKey: 'l' } });
    db = DynamoDBDocumentClient.from(raw);
    await raw.send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'gsi1pk', AttributeType: 'S' },
          { AttributeName: 'gsi1sk', AttributeType: 'S' },
        ],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
        GlobalSecondaryIndexes: [
          { IndexName: 'gsi1', KeySchema: [{ AttributeName: 'gsi1pk', KeyType: 'HASH' }, { AttributeName: 'gsi1sk', KeyType: 'RANGE' }], Projection: { ProjectionType: 'ALL' } },
        ],
      }),
    );
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => localMetrics.reset());

  const big = 'x'.repeat(2500); // an item of about 2.5 KB: 3 write units, 1 strongly consistent read unit

  it('writes by the KB, reads by 4 KB (half when eventually consistent), index writes apart', async () => {
    await db.send(new PutCommand({ TableName, Item: { pk: 'a', sk: '1', data: big } }));
    await db.send(new PutCommand({ TableName, Item: { pk: 'b', sk: '1', gsi1pk: 'g', gsi1sk: '1', data: big } }));
    await db.send(new GetCommand({ TableName, Key: { pk: 'a', sk: '1' }, ConsistentRead: true }));
    await db.send(new GetCommand({ TableName, Key: { pk: 'a', sk: '1' } }));
    const m = localMetrics.snapshot().dynamodb;
    expect(m.writeUnits).toBe(6);
    expect(m.indexWriteUnits).toBe(3);
    expect(m.readUnits).toBe(1.5);
    expect(m.requests).toEqual({ PutItem: 2, GetItem: 2 });
  });

  it('a failed conditional write is billed; a query is metered without changing its answer', async () => {
    await db.send(new PutCommand({ TableName, Item: { pk: 'q', sk: '1', data: big } }));
    await db.send(new PutCommand({ TableName, Item: { pk: 'q', sk: '2', data: big } }));
    localMetrics.reset();
    await expect(db.send(new UpdateCommand({ TableName, Key: { pk: 'q', sk: '1' }, UpdateExpression: 'SET v = :v', ConditionExpression: 'attribute_not_exists(pk)', ExpressionAttributeValues: { ':v': 1 } }))).rejects.toThrow(/conditional/i);
    const answer = await db.send(new QueryCommand({ TableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'q' } }));
    expect(answer.Items).toHaveLength(2);
    expect(answer.ConsumedCapacity).toBeUndefined();
    const m = localMetrics.snapshot().dynamodb;
    expect(m.failedConditionalWrites).toBe(1);
    expect(m.writeUnits).toBe(3);
    expect(m.readUnits).toBe(1); // two 2.5 KB items, 5 KB rounded up to 8 KB, eventually consistent
  });
});
