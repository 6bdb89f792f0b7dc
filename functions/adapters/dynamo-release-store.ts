import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Release } from '#shared/domain/releases/model.ts';
import { ConflictError } from '#shared/domain/errors.ts';
import type { ReleaseStore } from '#shared/ports/release-store.ts';
import { queryPage } from './dynamo-paging.ts';

// Releases live in the deployments table: ACCOUNT#<acc> / RELEASE#<rel>, and gsi1
// (ACCOUNT#<acc>#APP#<app>, <createdAt>#<rel>) lists an application's releases by time.
// ACCOUNT#<acc> / VERSION#APP#<app>#<version> holds a version for one release, written with it.
const key = (accountId: string, releaseId: string) => ({ pk: `ACCOUNT#${accountId}`, sk: `RELEASE#${releaseId}` });
const appIndex = (accountId: string, appId: string) => `ACCOUNT#${accountId}#APP#${appId}`;

const toRelease = (item: Record<string, unknown>): Release => {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, kind: _kind, ...release } = item;
  return release as Release;
};

export const dynamoReleaseStore = (db: DynamoDBDocumentClient, tableName: string): ReleaseStore => ({
  // The emulator has no transactions, so two conditional writes: the version first, then the
  // release. A version left naming no release (a crash between the two) is taken over.
  putRelease: async (release) => {
    const version = { pk: `ACCOUNT#${release.accountId}`, sk: `VERSION#APP#${release.appId}#${release.version}` };
    const claim = (condition: string, values?: Record<string, unknown>) =>
      db.send(
        new PutCommand({
          TableName: tableName,
          Item: { ...version, kind: 'release-version', releaseId: release.releaseId },
          ConditionExpression: condition,
          ...(values ? { ExpressionAttributeValues: values } : {}),
        }),
      );
    try {
      await claim('attribute_not_exists(pk)');
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const { Item: held } = await db.send(new GetCommand({ TableName: tableName, Key: version, ConsistentRead: true }));
      const holder = held ? await db.send(new GetCommand({ TableName: tableName, Key: key(release.accountId, held.releaseId as string), ConsistentRead: true })) : undefined;
      if (!held || holder?.Item) throw new ConflictError(`The application has a release ${release.version} already: a version names one release`);
      try {
        await claim('releaseId = :orphan', { ':orphan': held.releaseId });
      } catch (retry) {
        if (retry instanceof ConditionalCheckFailedException) throw new ConflictError(`The application has a release ${release.version} already: a version names one release`);
        throw retry;
      }
    }
    await db.send(
      new PutCommand({
        TableName: tableName,
        Item: { ...key(release.accountId, release.releaseId), kind: 'release', gsi1pk: appIndex(release.accountId, release.appId), gsi1sk: `${release.createdAt}#${release.releaseId}`, ...release },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  },
  getRelease: async (accountId, releaseId) => {
    const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: key(accountId, releaseId), ConsistentRead: true }));
    return Item ? toRelease(Item) : undefined;
  },
  listReleases: (accountId, appId, request) =>
    queryPage(
      db,
      {
        TableName: tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': appIndex(accountId, appId) },
        ScanIndexForward: false,
      },
      { name: 'gsi1pk', value: appIndex(accountId, appId) },
      ['pk', 'sk', 'gsi1pk', 'gsi1sk'],
      request,
      toRelease,
    ),
  markSealing: async (release, digest, manifest, at) => {
    try {
      const { Attributes } = await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(release.accountId, release.releaseId),
          UpdateExpression: `SET #state = :sealing, digest = :digest, completedAt = :at${manifest ? ', manifest = :manifest' : ''}${release.signer ? ', signer = :signer' : ''}`,
          ConditionExpression: '#state = :uploading',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':sealing': 'sealing',
            ':uploading': 'uploading',
            ':digest': digest,
            ':at': at,
            ...(manifest ? { ':manifest': manifest } : {}),
            ...(release.signer ? { ':signer': release.signer } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toRelease(Attributes!);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ConflictError('The release was completed meanwhile');
      throw error;
    }
  },
  recordSealRequest: async (accountId, releaseId, request) => {
    try {
      const { Attributes } = await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(accountId, releaseId),
          UpdateExpression: 'SET sealRequest = :request',
          ConditionExpression: '#state = :sealing',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':request': request, ':sealing': 'sealing' },
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      return (Attributes as Partial<Release> | undefined)?.sealRequest;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ConflictError('The release is no longer waiting for its key to be sealed');
      throw error;
    }
  },
  acknowledgeSeal: async (accountId, releaseId, requestId, at) => {
    try {
      await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(accountId, releaseId),
          UpdateExpression: 'SET sealRequest.acknowledgedAt = :at',
          ConditionExpression: 'sealRequest.requestId = :request AND attribute_not_exists(sealRequest.acknowledgedAt)',
          ExpressionAttributeValues: { ':request': requestId, ':at': at },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  },
  markSealed: async (accountId, releaseId, version, at) => {
    try {
      await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(accountId, releaseId),
          UpdateExpression: 'SET #state = :ready, masterVersion = :version, sealedAt = :at',
          ConditionExpression: '#state = :sealing',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':ready': 'ready', ':sealing': 'sealing', ':version': version, ':at': at },
        }),
      );
    } catch (error) {
      // A duplicate reply finds it sealed already: the first one had its effect.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  },
  markReady: async (release, digest, at) => {
    try {
      const { Attributes } = await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(release.accountId, release.releaseId),
          UpdateExpression: `SET #state = :ready, digest = :digest, completedAt = :at${release.manifest ? ', manifest = :manifest' : ''}${release.signer ? ', signer = :signer' : ''}`,
          ConditionExpression: '#state = :uploading',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':ready': 'ready',
            ':uploading': 'uploading',
            ':digest': digest,
            ':at': at,
            ...(release.manifest ? { ':manifest': release.manifest } : {}),
            ...(release.signer ? { ':signer': release.signer } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toRelease(Attributes!);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ConflictError('The release was completed meanwhile');
      throw error;
    }
  },
});
