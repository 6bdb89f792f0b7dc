import { DomainError } from '#shared/domain/errors.ts';
import { deploymentStore, deployments } from '../deployments-context.ts';
import { deploymentRef } from './deployment-ref.ts';
import { workflowTask } from './workflow-task.ts';

/** The window passed: a waiting deployment becomes Expired. One that moved on meanwhile keeps its state. */
export const expireDeployment = async ({ accountId, deploymentId }: { accountId: string; deploymentId: string }) => {
  try {
    return { state: (await deployments.system.expire(accountId, deploymentId)).state };
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    const current = await deploymentStore.get(accountId, deploymentId);
    return { state: current?.state ?? 'Unknown' };
  }
};

export const handler = workflowTask(deploymentRef, expireDeployment);
