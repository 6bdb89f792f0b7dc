import { z } from 'zod';
import { deploymentRef } from './deployment-ref.ts';
import { deploys } from './deploys-context.ts';
import { workflowTask } from './workflow-task.ts';

const settleInput = deploymentRef.extend({
  /** The execution's state: a grant that failed, a key server's refusal, or neither. */
  execution: z.object({
    grant: z.looseObject({ failed: z.string().optional() }).nullish(),
    grantError: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
  }),
});

/** All targets reported, or the wait timed out, or no grant came: Succeeded or Failed, and why. */
export const handler = workflowTask(settleInput, (input) => deploys.settle(input));
