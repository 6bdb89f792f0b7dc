import { inject } from 'vitest';

/**
 * The local Step Functions server's fault injection (local/step-functions/server.ts): the next
 * `times` Lambda invocations of `stateName` in this execution fail with `error`, as Lambda
 * answers a throttled or failing invoke.
 */
const call = async (operation: string, body: Record<string, unknown>) => {
  const response = await fetch(inject('endpoints').stepFunctions, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `AWSStepFunctions.${operation}` },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`${operation}: ${JSON.stringify(answer)}`);
  return answer;
};

export const injectLambdaError = (executionArn: string, stateName: string, error: string, times = 1) =>
  call('LatchkeyInjectLambdaError', { executionArn, stateName, error, times });

export const lambdaErrorsLeft = async (executionArn: string) => (await call('LatchkeyLambdaErrorsLeft', { executionArn })).left as Record<string, number>;

/** The execution of a deployment's workflow (named after the deployment). */
export const executionArnOf = (deploymentId: string) =>
  `${inject('stackEnv').DEPLOYMENT_STATE_MACHINE_ARN!.replace(':stateMachine:', ':execution:')}:${deploymentId}`;
