import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { LOCAL_CREDENTIALS, type Endpoints } from '../../local/stack.ts';

/** Polls until `probe` gives a value, or fails at the deadline (no fixed sleeps). */
export const poll = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
};

/** The status of each deployment's workflow (its execution is named after the deployment), read from the local Step Functions. */
export const workflowStatus = (endpoints: Endpoints, stateMachineArn: string) => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const sfn = new SFNClient({ region: endpoints.region, endpoint: endpoints.stepFunctions, credentials: LOCAL_CREDENTIALS });
  const executionPrefix = stateMachineArn.replace(':stateMachine:', ':execution:');
  return async (deploymentId: string): Promise<string> =>
    (await sfn.send(new DescribeExecutionCommand({ executionArn: `${executionPrefix}:${deploymentId}` }))).status ?? 'UNKNOWN';
};

/** Waits for a deployment's workflow to end and gives its final status. */
export const workflowEnded = (statusOf: (deploymentId: string) => Promise<string>, deploymentId: string, timeoutMs = 30_000) =>
  poll(`the workflow of ${deploymentId} to end`, async () => {
    const status = await statusOf(deploymentId);
    return status === 'RUNNING' ? undefined : status;
  }, timeoutMs);
