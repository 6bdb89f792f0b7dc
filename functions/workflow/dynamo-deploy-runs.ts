import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DeployRuns, DeploymentKeys, TargetReport } from '#shared/domain/deploys/ports.ts';

// The deploy step's bookkeeping lives on the deployment item (deployments table,
// ACCOUNT#<acc> / DEPLOYMENT#<dep>), beside the fields the approval state machine owns:
//   deployTargets     agent ids the deployment went to      (set once)
//   targetReports     agent id -> report                    (one entry per target, written once)
//   deployTaskToken   the wait for the reports
//   grantAttempts     key servers asked so far
// and the target requests as ACCOUNT#<acc> / DEPLOYREQ#<req> -> deployment and agent.
const partition = (accountId: string) => `ACCOUNT#${accountId}`;
const deploymentKey = (accountId: string, deploymentId: string) => ({ pk: partition(accountId), sk: `DEPLOYMENT#${deploymentId}` });

const failedCondition = (error: unknown) => error instanceof ConditionalCheckFailedException;

type RunFields = { deployTargets?: string[]; targetReports?: Record<string, TargetReport>; deployTaskToken?: string };
const runOf = (item: RunFields) => ({ targets: item.deployTargets ?? [], reports: item.targetReports ?? {}, ...(item.deployTaskToken ? { taskToken: item.deployTaskToken } : {}) });

export const dynamoDeployRuns = (db: DynamoDBDocumentClient, tableName: string): DeployRuns => ({
  start: async (accountId, deploymentId, targets, taskToken) => {
    const { Attributes } = await db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: deploymentKey(accountId, deploymentId),
        UpdateExpression: 'SET deployTaskToken = :token, deployTargets = if_not_exists(deployTargets, :targets), targetReports = if_not_exists(targetReports, :none)',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':token': taskToken, ':targets': targets, ':none': {} },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return runOf(Attributes as RunFields);
  },
  nextGrantAttempt: async (accountId, deploymentId) => {
    const { Attributes } = await db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: deploymentKey(accountId, deploymentId),
        UpdateExpression: 'ADD grantAttempts :one',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(Attributes?.grantAttempts ?? 1);
  },
  recordReport: async (accountId, deploymentId, agentId, report) => {
    try {
      const { Attributes } = await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: deploymentKey(accountId, deploymentId),
          UpdateExpression: 'SET targetReports.#agent = :report',
          ConditionExpression: 'contains(deployTargets, :agent) AND attribute_not_exists(targetReports.#agent)',
          ExpressionAttributeNames: { '#agent': agentId },
          ExpressionAttributeValues: { ':report': report, ':agent': agentId },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return runOf(Attributes as RunFields);
    } catch (error) {
      if (failedCondition(error)) return undefined;
      throw error;
    }
  },
  get: async (accountId, deploymentId) => {
    const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: deploymentKey(accountId, deploymentId), ConsistentRead: true }));
    return Item ? runOf(Item as RunFields) : undefined;
  },
  putTargetRequest: async (accountId, requestId, ref) => {
    try {
      await db.send(
        new PutCommand({
          TableName: tableName,
          Item: { pk: partition(accountId), sk: `DEPLOYREQ#${requestId}`, kind: 'deploy-request', ...ref },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (failedCondition(error)) return false;
      throw error;
    }
  },
  getTargetRequest: async (accountId, requestId) => {
    const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: { pk: partition(accountId), sk: `DEPLOYREQ#${requestId}` }, ConsistentRead: true }));
    return Item ? { deploymentId: Item.deploymentId as string, agentId: Item.agentId as string } : undefined;
  },
});

/** Wrapped-keys table: DEPLOYMENT#<dep>, the deployment key under the master key; written once. */
export const dynamoDeploymentKeys = (db: DynamoDBDocumentClient, tableName: string): DeploymentKeys => ({
  put: async (wrap) => {
    try {
      await db.send(
        new PutCommand({ TableName: tableName, Item: { pk: partition(wrap.accountId), sk: `DEPLOYMENT#${wrap.deploymentId}`, ...wrap }, ConditionExpression: 'attribute_not_exists(pk)' }),
      );
    } catch (error) {
      if (!failedCondition(error)) throw error;
    }
  },
});
