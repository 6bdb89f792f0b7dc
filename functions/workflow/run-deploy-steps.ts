import { systemClock } from '#shared/ports/clock.ts';
import { keyStore, masterKeys } from '../agents-context.ts';
import { deploymentStore, directory } from '../deployments-context.ts';
import { logger } from '../observability.ts';
import { deploymentRef } from './deployment-ref.ts';
import { workflowTask } from './workflow-task.ts';

/**
 * The deploy step, until target agents do the real work (the secure-deploy issue): it runs once
 * per deployment (a retried or replayed task finds it started and reports that). An encrypted
 * release can only be deployed while an online key server holds the master key version its key
 * is wrapped under: if none does, it fails saying so — by design there is no other way to the key.
 * Otherwise it is a PLACEHOLDER that reports success, or the failure the environment variable
 * LATCHKEY_PLACEHOLDER_FAILURE names, so the Failed path can be exercised end to end.
 */
export const runDeploySteps = async ({ accountId, deploymentId }: { accountId: string; deploymentId: string }) => {
  const first = await deploymentStore.markDeployStarted(accountId, deploymentId, systemClock.now().toISOString());
  if (!first) return { succeeded: false, reason: 'The deploy step had already run for this deployment' };
  const deployment = await deploymentStore.get(accountId, deploymentId);
  if (!deployment) return { succeeded: false, reason: `Deployment ${deploymentId} does not exist` };
  if (deployment.encrypted) {
    const wrapped = await keyStore.getWrappedReleaseKey(accountId, deployment.releaseId);
    if (!wrapped) return { succeeded: false, reason: `Release ${deployment.releaseVersion} has no sealed key: it was never sealed by a key server` };
    const [holder] = await masterKeys.onlineHolders(accountId, wrapped.version);
    if (!holder) return { succeeded: false, reason: `No online key server holds master key version ${wrapped.version}` };
  }
  const environment = await directory.getEnvironment(accountId, deployment.environmentId);
  const failure = environment?.variables.LATCHKEY_PLACEHOLDER_FAILURE;
  logger.info('deploy step ran', { deploymentId, succeeded: !failure });
  return failure ? { succeeded: false, reason: failure } : { succeeded: true, reason: 'placeholder deploy step' };
};

export const handler = workflowTask(deploymentRef, runDeploySteps);
