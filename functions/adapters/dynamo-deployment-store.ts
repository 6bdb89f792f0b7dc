import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Deployment } from '#shared/domain/deployments/model.ts';
import type { DeploymentStore, StoredDeployment } from '#shared/ports/deployment-store.ts';
import { queryPage } from './dynamo-paging.ts';

// Deployments live in the deployments table: ACCOUNT#<acc> / DEPLOYMENT#<dep>.
// gsi1 lists them newest first: (ACCOUNT#<acc>#DEPLOYMENTS, <createdAt>#<dep>), and per
// environment through a filter on that query.
const key = (accountId: string, deploymentId: string) => ({ pk: `ACCOUNT#${accountId}`, sk: `DEPLOYMENT#${deploymentId}` });
const listKey = (accountId: string) => `ACCOUNT#${accountId}#DEPLOYMENTS`;

/** The fields the state machine owns; a save writes these and nothing else. */
const STATE_FIELDS = ['state', 'votes', 'declined', 'canceled', 'outcome', 'updatedAt', 'history', 'version'] as const;

const toDeployment = (item: Record<string, unknown>): StoredDeployment => {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, kind: _kind, ...deployment } = item;
  return deployment as StoredDeployment;
};

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

export const dynamoDeploymentStore = (db: DynamoDBDocumentClient, tableName: string): DeploymentStore => {
  const setOnce = async (accountId: string, deploymentId: string, attribute: string, at: string, condition = '') => {
    try {
      await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(accountId, deploymentId),
          UpdateExpression: `SET ${attribute} = :at`,
          ConditionExpression: `attribute_exists(pk) AND attribute_not_exists(${attribute})${condition}`,
          ExpressionAttributeValues: { ':at': at, ...(condition ? { ':inProgress': 'InProgress' } : {}) },
          ...(condition ? { ExpressionAttributeNames: { '#state': 'state' } } : {}),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  };

  return {
    create: async (deployment) => {
      await db.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            ...key(deployment.accountId, deployment.deploymentId),
            kind: 'deployment',
            gsi1pk: listKey(deployment.accountId),
            gsi1sk: `${deployment.createdAt}#${deployment.deploymentId}`,
            ...deployment,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    },
    get: async (accountId, deploymentId) => {
      const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: key(accountId, deploymentId), ConsistentRead: true }));
      return Item ? toDeployment(Item) : undefined;
    },
    list: (accountId, request, environmentId) =>
      queryPage(
        db,
        {
          TableName: tableName,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :pk',
          ...(environmentId ? { FilterExpression: 'environmentId = :env' } : {}),
          ExpressionAttributeValues: { ':pk': listKey(accountId), ...(environmentId ? { ':env': environmentId } : {}) },
          ScanIndexForward: false,
        },
        { name: 'gsi1pk', value: listKey(accountId) },
        ['pk', 'sk', 'gsi1pk', 'gsi1sk'],
        request,
        toDeployment as (item: Record<string, unknown>) => Deployment,
      ),
    save: async (next: Deployment, expectedVersion) => {
      const sets: string[] = [];
      const removes: string[] = [];
      const names: Record<string, string> = {};
      const values: Record<string, unknown> = { ':expected': expectedVersion };
      for (const field of STATE_FIELDS) {
        names[`#${field}`] = field;
        if (next[field] === undefined) removes.push(`#${field}`);
        else {
          sets.push(`#${field} = :${field}`);
          values[`:${field}`] = next[field];
        }
      }
      try {
        const { Attributes } = await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: key(next.accountId, next.deploymentId),
            UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
            ConditionExpression: '#version = :expected',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ReturnValues: 'ALL_NEW',
          }),
        );
        return toDeployment(Attributes!);
      } catch (error) {
        if (isConditionFailure(error)) return undefined;
        throw error;
      }
    },
    parkTask: async (accountId, deploymentId, task, expectedState) => {
      try {
        await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: key(accountId, deploymentId),
            UpdateExpression: 'SET taskToken = :token, taskStage = :stage',
            ConditionExpression: '#state = :expected',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: { ':token': task.taskToken, ':stage': task.taskStage, ':expected': expectedState },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },
    markDeployStarted: (accountId, deploymentId, at) => setOnce(accountId, deploymentId, 'deployStartedAt', at, ' AND #state = :inProgress'),
    markNotified: async (accountId, deploymentId, mail) => {
      try {
        await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: key(accountId, deploymentId),
            UpdateExpression: 'SET notifiedAt = :at, approvalMail = :mail',
            ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(notifiedAt)',
            ExpressionAttributeValues: { ':at': mail.at, ':mail': mail },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },
  };
};
