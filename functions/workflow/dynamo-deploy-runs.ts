import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DeployPlan, DeployRuns, DeploymentKeys, GrantOutcome, TargetReport } from '#shared/domain/deploys/ports.ts';

// The deploy step's bookkeeping lives on the deployment item (deployments table,
// ACCOUNT#<acc> / DEPLOYMENT#<dep>), beside the fields the approval state machine owns:
//   deployTargets     agent ids the deployment went to      (set once)
//   deployExpiresAt   when targets stop installing it       (set once)
//   deploySettledAt   when the wait for reports was settled (set once; no report after it)
//   targetReports     agent id -> report                    (one entry per target, written once)
//   deployTaskToken   the wait for the reports
//   grantAttempts     key servers asked so far
//   grantRequestId    the grant request sent last
//   deployPlan        what PlanDeploy decided                (set once)
//   grantTaskToken    the wait for the key server's grant
//   grantOutcome      the grant, or why there is none        (set once)
// and the requests it sent as ACCOUNT#<acc> / DEPLOYREQ#<req> -> deployment, agent and purpose.
const partition = (accountId: string) => `ACCOUNT#${accountId}`;
const deploymentKey = (accountId: string, deploymentId: string) => ({ pk: partition(accountId), sk: `DEPLOYMENT#${deploymentId}` });

const failedCondition = (error: unknown) => error instanceof ConditionalCheckFailedException;

type RunFields = {
  state?: string;
  deployTargets?: string[];
  deployExpiresAt?: string;
  deploySettledAt?: string;
  targetReports?: Record<string, TargetReport>;
  deployTaskToken?: string;
  deployPlan?: DeployPlan;
  grantAttempts?: number;
  grantRequestId?: string;
  grantTaskToken?: string;
  grantOutcome?: GrantOutcome;
};
const runOf = (item: RunFields) => ({
  targets: item.deployTargets ?? [],
  reports: item.targetReports ?? {},
  ...(item.deployTaskToken ? { taskToken: item.deployTaskToken } : {}),
  ...(item.deployPlan ? { plan: item.deployPlan } : {}),
});

export const dynamoDeployRuns = (db: DynamoDBDocumentClient, tableName: string): DeployRuns => {
  /** One update of an existing deployment item; answers the item after it. */
  const update = async (accountId: string, deploymentId: string, expression: string, values: Record<string, unknown>) => {
    const { Attributes } = await db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: deploymentKey(accountId, deploymentId),
        UpdateExpression: expression,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return Attributes as RunFields;
  };
  return {
    start: async (accountId, deploymentId, first, taskToken) => {
      const item = await update(
        accountId,
        deploymentId,
        'SET deployTaskToken = :token, deployTargets = if_not_exists(deployTargets, :targets), deployExpiresAt = if_not_exists(deployExpiresAt, :expires), targetReports = if_not_exists(targetReports, :none)',
        { ':token': taskToken, ':targets': first.targets, ':expires': first.expiresAt, ':none': {} },
      );
      return { ...runOf(item), expiresAt: item.deployExpiresAt! };
    },
    nextGrantAttempt: async (accountId, deploymentId, requestId) =>
      Number((await update(accountId, deploymentId, 'ADD grantAttempts :one SET grantRequestId = :request', { ':one': 1, ':request': requestId })).grantAttempts ?? 1),
    grantWait: async (accountId, deploymentId) => {
      const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: deploymentKey(accountId, deploymentId), ConsistentRead: true }));
      if (!Item) return undefined;
      const item = Item as RunFields;
      return { ...(item.grantTaskToken ? { taskToken: item.grantTaskToken } : {}), ...(item.grantRequestId ? { requestId: item.grantRequestId } : {}), settled: !!item.grantOutcome };
    },
    recordReport: async (accountId, deploymentId, agentId, report) => {
      try {
        const { Attributes } = await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: deploymentKey(accountId, deploymentId),
            UpdateExpression: 'SET targetReports.#agent = :report',
            ConditionExpression:
              'contains(deployTargets, :agent) AND attribute_not_exists(targetReports.#agent) AND attribute_not_exists(deploySettledAt) AND #state = :inProgress',
            ExpressionAttributeNames: { '#agent': agentId, '#state': 'state' },
            ExpressionAttributeValues: { ':report': report, ':agent': agentId, ':inProgress': 'InProgress' },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return { status: 'recorded', ...runOf(Attributes as RunFields) };
      } catch (error) {
        if (!failedCondition(error)) throw error;
      }
      // Why not: a report already in (or no such target) is a duplicate; else the wait is over.
      const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: deploymentKey(accountId, deploymentId), ConsistentRead: true }));
      const item = (Item ?? {}) as RunFields;
      const kept = item.targetReports?.[agentId];
      if (!item.deployTargets?.includes(agentId) || kept) return { status: 'duplicate', ...(kept ? { report: kept } : {}) };
      return { status: 'late' };
    },
    settle: async (accountId, deploymentId, at) => {
      try {
        return runOf(await update(accountId, deploymentId, 'SET deploySettledAt = if_not_exists(deploySettledAt, :at)', { ':at': at }));
      } catch (error) {
        if (failedCondition(error)) return undefined;
        throw error;
      }
    },
    keepPlan: async (accountId, deploymentId, plan) => (await update(accountId, deploymentId, 'SET deployPlan = if_not_exists(deployPlan, :plan)', { ':plan': plan })).deployPlan!,
    parkGrantWait: async (accountId, deploymentId, taskToken) => {
      const item = await update(accountId, deploymentId, 'SET grantTaskToken = :token', { ':token': taskToken });
      return { attempts: Number(item.grantAttempts ?? 0), ...(item.grantOutcome ? { outcome: item.grantOutcome } : {}) };
    },
    keepGrantOutcome: async (accountId, deploymentId, outcome) => {
      const item = await update(accountId, deploymentId, 'SET grantOutcome = if_not_exists(grantOutcome, :outcome)', { ':outcome': outcome });
      return { outcome: item.grantOutcome!, ...(item.grantTaskToken ? { taskToken: item.grantTaskToken } : {}) };
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
      if (!Item) return undefined;
      return { deploymentId: Item.deploymentId as string, agentId: Item.agentId as string, ...(Item.purpose === 'grant' ? { purpose: 'grant' as const } : {}) };
    },
  };
};

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
