import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { MasterKeyState } from '#shared/domain/agents/master-key-plan.ts';
import type { Agent, AgentRequestRecord, StoredEnrolment } from '#shared/domain/agents/model.ts';
import { ConflictError } from '#shared/domain/errors.ts';
import type { AgentStore } from '#shared/ports/agent-store.ts';
import { queryAll, queryPage } from './dynamo-paging.ts';
import { TTL_ATTRIBUTE, ttlAfter } from './dynamo-ttl.ts';

// In the directory table, in the account's partition ACCOUNT#<acc>:
//   AGENT#<agt>        an agent
//   ENROLMENT#<enr>    an enrolment (vanishes a while after it expires: TTL)
//   REQUEST#<req>      a request sent to an agent, until its reply
//   MASTERKEY          what is being asked of key servers for the master key (master-key-plan.ts)
// and, to find an agent or an enrolment by its id alone with a consistent read (an index is
// eventually consistent, and enrolling and the first session come right after the writes):
//   AGENTID#<agt> / ACCOUNT         -> the agent's account
//   ENROLMENTID#<enr> / ACCOUNT     -> the enrolment's account
// Each pointer is written before its item (and is idempotent), so an item always has one.
const partition = (accountId: string) => `ACCOUNT#${accountId}`;
const strip = <T>(item: Record<string, unknown>): T => {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, kind: _kind, [TTL_ATTRIBUTE]: _ttl, ...rest } = item;
  return rest as T;
};
const failedCondition = (error: unknown) => error instanceof ConditionalCheckFailedException;

export const dynamoAgentStore = (db: DynamoDBDocumentClient, tableName: string): AgentStore => {
  const get = async <T>(accountId: string, sk: string) => {
    const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: { pk: partition(accountId), sk }, ConsistentRead: true }));
    return Item ? strip<T>(Item) : undefined;
  };
  const pointer = (kind: 'AGENTID' | 'ENROLMENTID', id: string) => ({ pk: `${kind}#${id}`, sk: 'ACCOUNT' });
  /** Records which account an id belongs to; writing the same again is a no-op, another account's a conflict. */
  const putPointer = async (kind: 'AGENTID' | 'ENROLMENTID', id: string, accountId: string, extra: Record<string, unknown> = {}) => {
    await db.send(
      new PutCommand({
        TableName: tableName,
        Item: { ...pointer(kind, id), kind: 'pointer', accountId, ...extra },
        ConditionExpression: 'attribute_not_exists(pk) OR accountId = :account',
        ExpressionAttributeValues: { ':account': accountId },
      }),
    );
  };
  const accountOf = async (kind: 'AGENTID' | 'ENROLMENTID', id: string) => {
    const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: pointer(kind, id), ConsistentRead: true }));
    return Item?.accountId as string | undefined;
  };
  const update = async (key: { accountId: string; sk: string }, expression: string, condition: string, values: Record<string, unknown>, names?: Record<string, string>) => {
    const { Attributes } = await db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: partition(key.accountId), sk: key.sk },
        UpdateExpression: expression,
        ConditionExpression: condition,
        ExpressionAttributeValues: values,
        ...(names ? { ExpressionAttributeNames: names } : {}),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return Attributes!;
  };

  return {
    putEnrolment: async (enrolment) => {
      await putPointer('ENROLMENTID', enrolment.enrolmentId, enrolment.accountId, ttlAfter(enrolment.expiresAt));
      await db.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            pk: partition(enrolment.accountId),
            sk: `ENROLMENT#${enrolment.enrolmentId}`,
            kind: 'enrolment',
            ...enrolment,
            ...ttlAfter(enrolment.expiresAt),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    },
    getEnrolment: (accountId, enrolmentId) => get<StoredEnrolment>(accountId, `ENROLMENT#${enrolmentId}`),
    findEnrolment: async (enrolmentId) => {
      const accountId = await accountOf('ENROLMENTID', enrolmentId);
      return accountId ? get<StoredEnrolment>(accountId, `ENROLMENT#${enrolmentId}`) : undefined;
    },
    signEnrolment: async (accountId, enrolmentId, signature) => {
      try {
        return strip<StoredEnrolment>(
          await update(
            { accountId, sk: `ENROLMENT#${enrolmentId}` },
            'SET ownerSignature = :signature',
            'attribute_exists(pk) AND (attribute_not_exists(ownerSignature) OR ownerSignature = :signature) AND attribute_not_exists(usedAt)',
            { ':signature': signature },
          ),
        );
      } catch (error) {
        if (failedCondition(error)) throw new ConflictError('The enrolment is already signed or used');
        throw error;
      }
    },
    useEnrolment: async (accountId, enrolmentId, agentId, at) => {
      try {
        await update({ accountId, sk: `ENROLMENT#${enrolmentId}` }, 'SET usedAt = :at, usedBy = :agent', 'attribute_exists(ownerSignature) AND attribute_not_exists(usedAt)', {
          ':at': at,
          ':agent': agentId,
        });
        return true;
      } catch (error) {
        if (failedCondition(error)) return false;
        throw error;
      }
    },

    putAgent: async (agent) => {
      try {
        await putPointer('AGENTID', agent.agentId, agent.accountId);
        await db.send(
          new PutCommand({
            TableName: tableName,
            Item: { pk: partition(agent.accountId), sk: `AGENT#${agent.agentId}`, kind: 'agent', ...agent },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      } catch (error) {
        if (failedCondition(error)) throw new ConflictError('An agent with this signing key is already enrolled');
        throw error;
      }
    },
    getAgent: (accountId, agentId) => get<Agent>(accountId, `AGENT#${agentId}`),
    findAgent: async (agentId) => {
      const accountId = await accountOf('AGENTID', agentId);
      return accountId ? get<Agent>(accountId, `AGENT#${agentId}`) : undefined;
    },
    listAgents: (accountId, request) =>
      queryPage(
        db,
        {
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          FilterExpression: 'attribute_not_exists(removedAt)',
          ExpressionAttributeValues: { ':pk': partition(accountId), ':prefix': 'AGENT#' },
        },
        { name: 'pk', value: partition(accountId) },
        ['pk', 'sk'],
        request,
        strip<Agent>,
      ),
    agentsWithRole: async (accountId, role) =>
      (
        await queryAll(db, {
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          FilterExpression: '#role = :role AND attribute_not_exists(removedAt) AND #st.#st.#status = :active',
          ExpressionAttributeNames: { '#role': 'role', '#st': 'statement', '#status': 'status' },
          ExpressionAttributeValues: { ':pk': partition(accountId), ':prefix': 'AGENT#', ':role': role, ':active': 'active' },
          ConsistentRead: true,
        })
      ).map((item) => strip<Agent>(item)),
    setAgentStatement: async (accountId, agentId, signed) => {
      try {
        await update(
          { accountId, sk: `AGENT#${agentId}` },
          'SET #st = :signed',
          'attribute_exists(pk) AND (attribute_not_exists(#st) OR #st.#st.version < :version)',
          { ':signed': signed, ':version': signed.statement.version },
          { '#st': 'statement' },
        );
        return true;
      } catch (error) {
        if (failedCondition(error)) return false;
        throw error;
      }
    },
    markSeen: async (accountId, agentId, { claimedAt, receivedAt }) => {
      try {
        // Each heartbeat counts once: its own time must be newer than the last one accepted.
        await update(
          { accountId, sk: `AGENT#${agentId}` },
          'SET lastSeenAt = :received, lastHeartbeatAt = :claimed',
          'attribute_exists(pk) AND attribute_not_exists(removedAt) AND (attribute_not_exists(lastHeartbeatAt) OR lastHeartbeatAt < :claimed)',
          { ':received': receivedAt, ':claimed': claimedAt },
        );
        return true;
      } catch (error) {
        if (failedCondition(error)) return false;
        throw error;
      }
    },
    markUnresponsive: async (accountId, agentId, at) => {
      try {
        await update({ accountId, sk: `AGENT#${agentId}` }, 'SET unresponsiveSince = :at', 'attribute_exists(pk) AND (attribute_not_exists(unresponsiveSince) OR unresponsiveSince < :at)', { ':at': at });
      } catch (error) {
        if (!failedCondition(error)) throw error;
      }
    },
    acceptSession: async (accountId, agentId, at) => {
      try {
        await update(
          { accountId, sk: `AGENT#${agentId}` },
          'SET lastSessionAt = :at',
          'attribute_exists(pk) AND attribute_not_exists(removedAt) AND (attribute_not_exists(lastSessionAt) OR lastSessionAt < :at)',
          { ':at': at },
        );
        return true;
      } catch (error) {
        if (failedCondition(error)) return false;
        throw error;
      }
    },
    removeAgent: async (accountId, agentId, at) => {
      try {
        return strip<Agent>(await update({ accountId, sk: `AGENT#${agentId}` }, 'SET removedAt = :at', 'attribute_exists(pk) AND attribute_not_exists(removedAt)', { ':at': at }));
      } catch (error) {
        if (failedCondition(error)) return undefined;
        throw error;
      }
    },

    putRequest: async (request) => {
      await db.send(
        new PutCommand({
          TableName: tableName,
          Item: { pk: partition(request.accountId), sk: `REQUEST#${request.requestId}`, kind: 'agent-request', ...request },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    },
    getRequest: (accountId, requestId) => get<AgentRequestRecord>(accountId, `REQUEST#${requestId}`),
    acknowledgeRequest: async (accountId, requestId, at) => {
      try {
        await update(
          { accountId, sk: `REQUEST#${requestId}` },
          'SET acknowledgedAt = :at',
          '#state = :pending AND attribute_not_exists(acknowledgedAt)',
          { ':at': at, ':pending': 'pending' },
          { '#state': 'state' },
        );
        return true;
      } catch (error) {
        if (failedCondition(error)) return false;
        throw error;
      }
    },
    getMasterKeyState: async (accountId) => {
      const item = await get<MasterKeyState & { accountId?: string }>(accountId, 'MASTERKEY');
      if (!item) return undefined;
      const { accountId: _account, ...state } = item;
      return state;
    },
    putMasterKeyState: async (accountId, state, expectedRevision) => {
      try {
        await db.send(
          new PutCommand({
            TableName: tableName,
            Item: { pk: partition(accountId), sk: 'MASTERKEY', kind: 'master-key-state', ...state, revision: expectedRevision + 1 },
            ConditionExpression: expectedRevision === 0 ? 'attribute_not_exists(pk)' : 'revision = :expected',
            ...(expectedRevision === 0 ? {} : { ExpressionAttributeValues: { ':expected': expectedRevision } }),
          }),
        );
        return true;
      } catch (error) {
        if (failedCondition(error)) return false;
        throw error;
      }
    },
    closeRequest: async (accountId, requestId, state, at, error) => {
      try {
        await update(
          { accountId, sk: `REQUEST#${requestId}` },
          `SET #state = :state, doneAt = :at${error ? ', #error = :error' : ''}`,
          '#state = :pending',
          { ':state': state, ':at': at, ':pending': 'pending', ...(error ? { ':error': error.slice(0, 2000) } : {}) },
          { '#state': 'state', ...(error ? { '#error': 'error' } : {}) },
        );
        return true;
      } catch (e) {
        if (failedCondition(e)) return false;
        throw e;
      }
    },
  };
};
