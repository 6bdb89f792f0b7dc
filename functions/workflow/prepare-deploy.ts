import { logger } from '../observability.ts';
import { deploymentRef } from './deployment-ref.ts';
import { deploys } from './deploys-context.ts';
import { workflowTask } from './workflow-task.ts';

/** The first deploy step: once per deployment, decides grant (secure), dispatch (plain) or fail. */
export const handler = workflowTask(deploymentRef, async (ref) => {
  const plan = await deploys.prepare(ref);
  logger.info('deploy planned', { deploymentId: ref.deploymentId, action: plan.action });
  return plan;
});
