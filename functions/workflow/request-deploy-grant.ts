import { z } from 'zod';
import { agentId, taskToken } from '#shared/protocol/agent-messages.ts';
import { logger } from '../observability.ts';
import { deploymentRef } from './deployment-ref.ts';
import { deploys } from './deploys-context.ts';
import { workflowTask } from './workflow-task.ts';

const grantInput = deploymentRef.extend({
  keyServers: z.array(agentId).min(1).max(50),
  taskToken,
  /** True when the key server asked last did not answer in time; false on the first ask, and when the workflow runs again from its start. */
  askNext: z.boolean(),
});

/** Asks the next key server of the plan for the deployment grant (unless one was asked already); its reply ends the wait. */
export const handler = workflowTask(grantInput, async (input) => {
  const asked = await deploys.requestGrant(input);
  const keyServer = asked.asked ?? ('reused' in asked ? 'grant kept' : 'waiting' in asked ? 'asked already' : 'none left');
  logger.info('deployment grant requested', { deploymentId: input.deploymentId, keyServer });
  return asked;
});
