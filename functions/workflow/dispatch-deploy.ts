import { z } from 'zod';
import { agentId, requestId, taskToken } from '#shared/protocol/agent-messages.ts';
import { logger } from '../observability.ts';
import { deploymentRef } from './deployment-ref.ts';
import { deploys } from './deploys-context.ts';
import { workflowTask } from './workflow-task.ts';

const dispatchInput = deploymentRef.extend({
  /** The key server's reply as the consumer resumed the grant wait with it; `{ none: true }` for a plain release. */
  grant: z
    .union([z.object({ requestId, agentId, result: z.record(z.string(), z.unknown()) }), z.strictObject({ none: z.literal(true) })])
    .transform((grant) => ('none' in grant ? null : grant)),
  targetTimeoutSeconds: z.number().int().min(1),
  taskToken,
});

/** Sends every target its deploy request and parks the wait for their reports. */
export const handler = workflowTask(dispatchInput, async (input) => {
  const sent = await deploys.dispatch(input);
  logger.info('deploy requests sent', { deploymentId: input.deploymentId, targets: sent.targets });
  return sent;
});
