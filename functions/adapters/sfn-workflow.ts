import { InvalidToken, SendTaskHeartbeatCommand, SendTaskSuccessCommand, StartExecutionCommand, TaskDoesNotExist, TaskTimedOut, ExecutionAlreadyExists, type SFNClient } from '@aws-sdk/client-sfn';
import type { Deployment } from '#shared/domain/deployments/model.ts';
import type { Workflow } from '#shared/ports/deployment-store.ts';

/** The input every deployment execution starts with (functions/workflow/deployment.asl.json). */
export const workflowInput = (deployment: Deployment) => ({
  accountId: deployment.accountId,
  deploymentId: deployment.deploymentId,
  approvalRequired: deployment.policy.approvalRequired,
  approvalWindowSeconds: Math.max(1, Math.round(deployment.policy.windowHours * 3600)),
});

/** The wait is over (answered, timed out, or its execution stopped): nothing left to tell it. */
const ended = (error: unknown) => error instanceof TaskTimedOut || error instanceof TaskDoesNotExist || error instanceof InvalidToken;

export const sfnWorkflow = (sfn: SFNClient, stateMachineArn: string): Workflow => ({
  start: async (deployment) => {
    try {
      await sfn.send(
        new StartExecutionCommand({ stateMachineArn, name: deployment.deploymentId, input: JSON.stringify(workflowInput(deployment)) }),
      );
    } catch (error) {
      // Named after the deployment: a second start of the same deployment is the same run.
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
    }
  },
  resume: async (taskToken, output) => {
    try {
      await sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));
    } catch (error) {
      if (!ended(error)) throw error;
    }
  },
  heartbeat: async (taskToken) => {
    try {
      await sfn.send(new SendTaskHeartbeatCommand({ taskToken }));
    } catch (error) {
      if (!ended(error)) throw error;
    }
  },
});
