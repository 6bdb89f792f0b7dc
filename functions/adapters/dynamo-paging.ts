import { QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '#shared/domain/errors.ts';
import type { Page, PageRequest } from '#shared/ports/paging.ts';

type Key = Record<string, string>;

const encodeCursor = (key: Key): string => Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');

/**
 * A cursor is the last key of the previous page. It comes back from the client, so it is
 * checked to be a key of the same partition before DynamoDB sees it: a forged cursor cannot
 * page into another account, and a mangled one is a 400, not a 500.
 */
const decodeCursor = (cursor: string, partition: { name: string; value: string }, keyNames: string[]): Key => {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const valid =
    !!key &&
    typeof key === 'object' &&
    !Array.isArray(key) &&
    Object.keys(key).length === keyNames.length &&
    keyNames.every((name) => typeof (key as Key)[name] === 'string') &&
    (key as Key)[partition.name] === partition.value;
  if (!valid) throw new ValidationError('cursor: not a cursor from a previous page of this list', 'cursor');
  return key as Key;
};

/** One page of a Query, with an opaque cursor for the next. */
export const queryPage = async <T>(
  db: DynamoDBDocumentClient,
  input: QueryCommandInput & { ExpressionAttributeValues: Record<string, unknown> },
  partition: { name: string; value: string },
  keyNames: string[],
  request: PageRequest,
  toItem: (item: Record<string, unknown>) => T,
): Promise<Page<T>> => {
  const { Items = [], LastEvaluatedKey } = await db.send(
    new QueryCommand({
      ...input,
      Limit: request.limit,
      ...(request.cursor ? { ExclusiveStartKey: decodeCursor(request.cursor, partition, keyNames) } : {}),
    }),
  );
  return { items: Items.map(toItem), ...(LastEvaluatedKey ? { nextCursor: encodeCursor(LastEvaluatedKey as Key) } : {}) };
};

/** Every item of a Query, following LastEvaluatedKey: for small, bounded sets (an account's agents or key wraps). */
export const queryAll = async (db: DynamoDBDocumentClient, input: QueryCommandInput): Promise<Record<string, unknown>[]> => {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
};
