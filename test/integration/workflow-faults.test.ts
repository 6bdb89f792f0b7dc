import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/clients.ts';
import { approvalSetup, executionEnded, waitForState } from '../support/deployments.ts';
import { executionArnOf, injectLambdaError, lambdaErrorsLeft } from '../support/lambda-faults.ts';

/** Issue 18: the workflow outlives Lambda's throttling, and a step that keeps failing never leaves a deployment open. */
describe('deployment workflow under Lambda faults', () => {
  it('a Lambda.TooManyRequestsException once in each deploy step: retried with backoff, and the deployment still Succeeds', async () => {
    // Prepare: a deployment waiting for approval; its next steps will each be throttled once.
    const s = await approvalSetup();
    const created = await s.deploy();
    const executionArn = executionArnOf(created.deploymentId);
    for (const state of ['PlanDeploy', 'DispatchToTargets', 'Settle', 'Finish']) {
      await injectLambdaError(executionArn, state, 'Lambda.TooManyRequestsException');
    }

    // Act
    const approved = await s.a.approver.call('POST', `/deployments/${created.deploymentId}/approve`, { deploy: true });
    expect(approved.body.state).toBe('InProgress');

    // Assess: every injected error was met (and retried), and the deployment ended right.
    const done = await waitForState(s.a.owner, created.deploymentId, 'Succeeded', 45_000);
    expect(done.history.map((t: { to: string }) => t.to)).toEqual(['PendingApproval', 'InProgress', 'Succeeded']);
    expect(Object.values(await lambdaErrorsLeft(executionArn))).toEqual([0, 0, 0, 0]);
    expect((await executionEnded(created.deploymentId)).status).toBe('SUCCEEDED');
  }, 60_000);

  it('a step that keeps failing: the final Catch settles the deployment Failed, with a reason people can read', async () => {
    const s = await approvalSetup();
    const created = await s.deploy();
    // Not a retried error: the step fails at once, and its Catch takes over.
    await injectLambdaError(executionArnOf(created.deploymentId), 'PlanDeploy', 'Lambda.ResourceNotFoundException', 5);

    await s.a.approver.call('POST', `/deployments/${created.deploymentId}/approve`, { deploy: true });

    const failed = await waitForState(s.a.owner, created.deploymentId, 'Failed', 20_000);
    expect(failed.outcome.reason).toMatch(/^The deployment workflow failed \(Lambda\.ResourceNotFoundException: .+\); start a new deployment to try again$/);
    await waitFor('the workflow to end', async () => ((await executionEnded(created.deploymentId)).status === 'SUCCEEDED' ? true : undefined));
  }, 40_000);
});
