import { z } from 'zod';
import { DomainError } from '#shared/domain/errors.ts';
import { deploymentStore, deployments } from '../deployments-context.ts';
import { deploymentRef } from './deployment-ref.ts';
import { workflowTask } from './workflow-task.ts';

/** What a state's Catch hands on (`ResultPath: "$.error"`): the error name and its cause. */
const failInput = deploymentRef.extend({ error: z.object({ Error: z.string().max(256), Cause: z.string().max(32_768).optional() }) });

/** The message of a Lambda error's cause (`{"errorType": ..., "errorMessage": ...}`), or the cause as it is. */
const causeMessage = (cause: string | undefined): string | undefined => {
  if (!cause) return undefined;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    return typeof parsed.errorMessage === 'string' ? parsed.errorMessage : cause;
  } catch {
    return cause;
  }
};

/**
 * The final Catch of every workflow step: a step failed for good (after its retries), so the
 * deployment, whatever open state it is in, ends Failed with a reason people can read. One that
 * already ended keeps its state (a retried task, or a decision that came first).
 */
export const failDeployment = async ({ accountId, deploymentId, error }: z.infer<typeof failInput>) => {
  const detail = causeMessage(error.Cause);
  const reason = `The deployment workflow failed (${error.Error}${detail ? `: ${detail}` : ''}); start a new deployment to try again`.slice(0, 2000);
  try {
    return { state: (await deployments.system.fail(accountId, deploymentId, reason)).state };
  } catch (failure) {
    if (!(failure instanceof DomainError)) throw failure;
    return { state: (await deploymentStore.get(accountId, deploymentId))?.state ?? 'Unknown' };
  }
};

export const handler = workflowTask(failInput, failDeployment);
