import { z } from 'zod';
import { DomainError } from '#shared/domain/errors.ts';
import { deploymentStore, deployments } from '../deployments-context.ts';
import { deploymentRef } from './deployment-ref.ts';
import { workflowTask } from './workflow-task.ts';

const finishInput = deploymentRef.extend({ succeeded: z.boolean(), reason: z.string().max(2000).optional() });

/** InProgress -> Succeeded or Failed. A retried task finds it finished and reports the state it has. */
export const finishDeployment = async ({ accountId, deploymentId, succeeded, reason }: z.infer<typeof finishInput>) => {
  try {
    return { state: (await deployments.system.finish(accountId, deploymentId, succeeded, reason)).state };
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return { state: (await deploymentStore.get(accountId, deploymentId))?.state ?? 'Unknown' };
  }
};

export const handler = workflowTask(finishInput, finishDeployment);
