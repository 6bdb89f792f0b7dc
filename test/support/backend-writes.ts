import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { localClients } from './clients.ts';

/**
 * What a compromised backend does in the attack tests (test/integration/compromised-backend/):
 * it reads and writes the emulators' DynamoDB directly, never through the API.
 */
const { dynamo, env } = localClients();
const account = (accountId: string) => `ACCOUNT#${accountId}`;

/** One item of the directory table in the account's partition (AGENT#…, STATEMENT#…, ENROLMENT#…), as stored. */
export const directoryItem = async (accountId: string, sk: string) =>
  (await dynamo.send(new GetCommand({ TableName: env.DIRECTORY_TABLE!, Key: { pk: account(accountId), sk }, ConsistentRead: true }))).Item;

/** Puts an item back exactly as it was read (a rollback). */
export const putDirectoryItem = (item: Record<string, unknown>) => dynamo.send(new PutCommand({ TableName: env.DIRECTORY_TABLE!, Item: item }));

/** Sets attributes of a directory item (and removes others). */
export const updateDirectoryItem = (accountId: string, sk: string, set: Record<string, unknown>, remove: string[] = []) => {
  const names = Object.fromEntries([...Object.keys(set), ...remove].map((name, i) => [`#a${i}`, name]));
  const alias = (name: string) => Object.entries(names).find(([, n]) => n === name)![0];
  const sets = Object.keys(set).map((name, i) => `${alias(name)} = :v${i}`);
  const expression = [sets.length ? `SET ${sets.join(', ')}` : '', remove.length ? `REMOVE ${remove.map(alias).join(', ')}` : ''].filter(Boolean).join(' ');
  return dynamo.send(
    new UpdateCommand({
      TableName: env.DIRECTORY_TABLE!,
      Key: { pk: account(accountId), sk },
      UpdateExpression: expression,
      ExpressionAttributeNames: names,
      ...(sets.length ? { ExpressionAttributeValues: Object.fromEntries(Object.values(set).map((value, i) => [`:v${i}`, value])) } : {}),
      ConditionExpression: 'attribute_exists(pk)',
    }),
  );
};

/** The master key copies the backend holds for an agent (the wrapped-keys table). */
export const masterCopiesFor = async (accountId: string, agentId: string) =>
  (
    (
      await dynamo.send(
        new QueryCommand({
          TableName: env.WRAPPED_KEYS_TABLE!,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': account(accountId), ':prefix': 'MASTER#' },
          ConsistentRead: true,
        }),
      )
    ).Items ?? []
  ).filter((item) => item.agentId === agentId) as { version: number; agentId: string; wrappedMaster: string; wrappedBy: string }[];
