import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { z } from 'zod';
import { taskToken } from '#shared/protocol/agent-messages.ts';
import { dynamo } from '../adapters/aws-clients.ts';
import { tableName } from '../config.ts';
import { logger } from '../observability.ts';

const parkInput = z.strictObject({
  accountId: z.string().min(1).max(100),
  deploymentId: z.string().min(1).max(100),
  stage: z.enum(['approval', 'deploy']),
  taskToken,
});

const deploymentsTable = tableName('deployments');

/**
 * Stores the token of a waiting Step Functions task on the deployment item, so that the
 * action which ends the wait (an approval, a deploy) can call SendTaskSuccess with it.
 */
export const parkTaskToken = async (event: unknown) => {
  const input = parkInput.parse(event);
  try {
    await dynamo().send(
      new UpdateCommand({
        TableName: deploymentsTable,
        Key: { pk: `ACCOUNT#${input.accountId}`, sk: `DEPLOYMENT#${input.deploymentId}` },
        UpdateExpression: 'SET taskToken = :token, taskStage = :stage',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':token': input.taskToken, ':stage': input.stage },
      }),
    );
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      throw new Error(`Deployment ${input.deploymentId} does not exist`, { cause: error });
    }
    throw error;
  }
  logger.info('task token parked', { deploymentId: input.deploymentId, stage: input.stage });
  return { parked: true };
};

export const handler = middy(parkTaskToken).use(injectLambdaContext(logger, { resetKeys: true }));
