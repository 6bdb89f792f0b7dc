import { systemClock } from '#shared/ports/clock.ts';
import { deploymentStore, directory } from '../deployments-context.ts';
import { logger } from '../observability.ts';
import { deploymentRef } from './deployment-ref.ts';
import { workflowTask } from './workflow-task.ts';

/**
 * PLACEHOLDER deploy step, until key servers and target agents do the real work: it runs once
 * per deployment (a retried or replayed task finds it started and reports that), and reports
 * success — or the failure that the environment variable LATCHKEY_PLACEHOLDER_FAILURE names,
 * so the Failed path can be exercised end to end before real targets exist.
 */
export const runDeploySteps = async ({ accountId, deploymentId }: { accountId: string; deploymentId: string }) => {
  const first = await deploymentStore.markDeployStarted(accountId, deploymentId, systemClock.now().toISOString());
  if (!first) return { succeeded: false, reason: 'The deploy step had already run for this deployment' };
  const deployment = await deploymentStore.get(accountId, deploymentId);
  const environment = deployment ? await directory.getEnvironment(accountId, deployment.environmentId) : undefined;
  const failure = environment?.variables.LATCHKEY_PLACEHOLDER_FAILURE;
  logger.info('placeholder deploy step ran', { deploymentId, succeeded: !failure });
  return failure ? { succeeded: false, reason: failure } : { succeeded: true, reason: 'placeholder deploy step' };
};

export const handler = workflowTask(deploymentRef, runDeploySteps);
