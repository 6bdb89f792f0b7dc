import { z } from 'zod';
import { agentId, taskToken } from '#shared/protocol/agent-messages.ts';
import { logger } from '../observability.ts';
import { deploymentRef } from './deployment-ref.ts';
import { deploys } from './deploys-context.ts';
import { workflowTask } from './workflow-task.ts';

const grantInput = deploymentRef.extend({ keyServers: z.array(agentId).min(1).max(50), taskToken });

/** Asks the next key server of the plan for the deployment grant; its reply ends the wait. */
export const handler = workflowTask(grantInput, async (input) => {
  const asked = await deploys.requestGrant(input);
  logger.info('deployment grant requested', { deploymentId: input.deploymentId, keyServer: asked.asked ?? 'none left' });
  return asked;
});
