import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { buildApp } from 'fauxqs';
import { countIn, localMetrics } from './metrics.ts';

/**
 * Counting at the emulators, for the cost model: the functions' SDK clients stay untouched, and
 * agents (other processes) are counted too. Only `startLocalStack({ countRequests: true })` installs these.
 */

type Item = Record<string, unknown>;
type Table = { GlobalSecondaryIndexes?: unknown[] };
type Callback = (error: unknown, result?: { ConsumedCapacity?: { CapacityUnits?: number } }) => void;

/** The parts of dynalite's storage module (dynalite/db) that meter capacity, as dynalite 4 defines them. */
type DynaliteDb = {
  capacityUnits: (item: Item | undefined, isRead: boolean, isConsistent?: boolean) => number;
  addConsumedCapacity: (data: Item, isRead: boolean, newItem?: Item, oldItem?: Item) => unknown;
  checkConditional: (data: Item, existingItem?: Item) => unknown;
  queryTable: (store: unknown, table: unknown, data: Item, ...rest: unknown[]) => void;
  getIndexActions: (indexes: unknown[], existingItem: Item | undefined, item: Item | undefined, table: Table) => { puts: { item: Item }[]; deletes: unknown[] };
  updateIndexes: (store: unknown, table: Table, existingItem: Item | undefined, item: Item | undefined, cb: Callback) => void;
  __latchkeyCounted?: true;
};

/**
 * DynamoDB bills request units by item size, which only the emulator knows, so its own meter is
 * read: dynalite computes table units the way DynamoDB does (1 KB per write unit, 4 KB per read
 * unit, half for eventually consistent reads) and its actions call these module functions by
 * name, so wrapping them counts every item operation without changing any answer. Added on top
 * of what dynalite meters: global secondary index writes and failed conditional writes, both of
 * which DynamoDB bills.
 */
const meterDynaliteCapacity = (): void => {
  const db = createRequire(import.meta.url)('dynalite/db/index.js') as DynaliteDb;
  if (db.__latchkeyCounted) return;
  db.__latchkeyCounted = true;
  const meter = () => localMetrics.dynamodb;
  const { addConsumedCapacity, checkConditional, queryTable, updateIndexes } = db;

  db.addConsumedCapacity = (data, isRead, newItem, oldItem) => {
    const consistent = data.ConsistentRead === true;
    const units = Math.max(db.capacityUnits(newItem, isRead, consistent), oldItem ? db.capacityUnits(oldItem, isRead, consistent) : 0);
    if (isRead) meter().readUnits += units;
    else meter().writeUnits += units;
    return addConsumedCapacity(data, isRead, newItem, oldItem);
  };

  db.checkConditional = (data, existingItem) => {
    const refused = checkConditional(data, existingItem);
    if (refused != null) {
      meter().failedConditionalWrites += 1;
      meter().writeUnits += db.capacityUnits(existingItem, false);
    }
    return refused;
  };

  // Query and Scan size their reads only when asked to: ask, count, and hide the answer again.
  db.queryTable = (store, table, data, ...rest) => {
    const cb = rest.pop() as Callback;
    const asked = data.ReturnConsumedCapacity === 'TOTAL' || data.ReturnConsumedCapacity === 'INDEXES';
    queryTable(store, table, { ...data, ReturnConsumedCapacity: asked ? data.ReturnConsumedCapacity : 'TOTAL' }, ...rest, ((error, result) => {
      if (result?.ConsumedCapacity) {
        meter().readUnits += result.ConsumedCapacity.CapacityUnits ?? 0;
        if (!asked) delete result.ConsumedCapacity;
      }
      cb(error, result);
    }) satisfies Callback);
  };

  db.updateIndexes = (store, table, existingItem, item, cb) => {
    const { puts, deletes } = db.getIndexActions(table.GlobalSecondaryIndexes ?? [], existingItem, item, table);
    meter().indexWriteUnits += puts.reduce((sum, put) => sum + db.capacityUnits(put.item, false), 0) + deletes.length * db.capacityUnits(existingItem, false);
    updateIndexes(store, table, existingItem, item, cb);
  };
};

/** Counts DynamoDB requests per operation (from the target header) and meters their capacity. */
export const countDynamoDbRequests = (server: Server): void => {
  meterDynaliteCapacity();
  server.prependListener('request', (req) => {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1];
    if (operation) countIn(localMetrics.dynamodb.requests, operation);
  });
};

/**
 * Counts SQS requests per operation (AWS JSON protocol target header) and S3 requests per method
 * on fauxqs, which serves both. A receive that found nothing is counted apart: an idle consumer
 * polls whether or not deployments happen.
 */
export const countSqsAndS3Requests = (app: ReturnType<typeof buildApp>): void => {
  app.addHook('onSend', async (request, _reply, payload) => {
    const target = request.headers['x-amz-target'];
    if (typeof target === 'string' && target.startsWith('AmazonSQS.')) {
      const operation = target.slice('AmazonSQS.'.length);
      const got = operation !== 'ReceiveMessage' || (typeof payload === 'string' && payload.includes('"MessageId"'));
      countIn(localMetrics.sqs, got ? operation : `${operation} (empty)`);
    } else {
      countIn(localMetrics.s3, request.method);
    }
    return payload;
  });
};
