import { z } from 'zod';
import type { DeploymentState } from '#shared/domain/deployments/model.ts';
import { taskToken } from '#shared/protocol/agent-messages.ts';
import { deploymentStore } from '../deployments-context.ts';
import { sfnWorkflow } from '../adapters/sfn-workflow.ts';
import { sfn } from '../adapters/aws-clients.ts';
import { logger } from '../observability.ts';
import { deploymentRef } from './deployment-ref.ts';
import { workflowTask } from './workflow-task.ts';

const parkInput = deploymentRef.extend({ stage: z.enum(['approval', 'deploy']), taskToken });

/** The state each wait expects; any other state means the decision came before the wait began. */
const waitingState: Record<'approval' | 'deploy', DeploymentState> = { approval: 'PendingApproval', deploy: 'Approved' };

const decisionFor: Partial<Record<DeploymentState, string>> = {
  Approved: 'approved',
  InProgress: 'deploy',
  Declined: 'declined',
  Canceled: 'canceled',
  Expired: 'expired',
};

/**
 * Parks the token of a waiting workflow task on the deployment, so the action that decides
 * can end the wait. If the decision was made before the wait began (an approval can beat the
 * workflow to it), the parked write is refused by its condition, and the task ends its own
 * wait with the decision already made.
 */
export const parkTaskToken = async (input: z.infer<typeof parkInput>) => {
  const parked = await deploymentStore.parkTask(input.accountId, input.deploymentId, { taskToken: input.taskToken, taskStage: input.stage }, waitingState[input.stage]);
  if (parked) {
    logger.info('task token parked', { deploymentId: input.deploymentId, stage: input.stage });
    return { parked: true };
  }
  const deployment = await deploymentStore.get(input.accountId, input.deploymentId);
  if (!deployment) throw new Error(`Deployment ${input.deploymentId} does not exist`);
  const decision = decisionFor[deployment.state];
  if (!decision) throw new Error(`Deployment ${input.deploymentId} is ${deployment.state}: nothing to wait for`);
  await sfnWorkflow(sfn(), 'not-needed-to-respond').resume(input.taskToken, { decision });
  logger.info('decision came first; wait ended at once', { deploymentId: input.deploymentId, stage: input.stage, decision });
  return { parked: false };
};

export const handler = workflowTask(parkInput, parkTaskToken);
