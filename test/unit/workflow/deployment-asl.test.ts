import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PARTITION_SUBSTITUTION, stateMachines } from '#functions/resources.ts';

type Retrier = { ErrorEquals: string[]; IntervalSeconds?: number; MaxAttempts?: number; BackoffRate?: number };
type Catcher = { ErrorEquals: string[]; Next: string };
type State = { Type: string; Resource?: string; Retry?: Retrier[]; Catch?: Catcher[]; Next?: string; End?: boolean };

const root = path.resolve(import.meta.dirname, '../../..');
const source = readFileSync(path.join(root, stateMachines.deployment.definitionFile), 'utf8');
const definition = JSON.parse(source) as { States: Record<string, State> };
const tasks = Object.entries(definition.States).filter(([, state]) => state.Type === 'Task');

/** What Lambda answers a throttled or failing invoke with, through the lambda:invoke integration. */
const lambdaServiceErrors = ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'];

describe('deployment workflow (functions/workflow/deployment.asl.json)', () => {
  it('has Task states to check', () => {
    expect(tasks.length).toBeGreaterThanOrEqual(9);
  });

  it.each(tasks)('%s retries Lambda service errors and throttling, with backoff', (_name, state) => {
    const retrier = state.Retry?.find((r) => lambdaServiceErrors.every((error) => r.ErrorEquals.includes(error)));
    expect(retrier).toBeDefined();
    expect(retrier!.MaxAttempts).toBeGreaterThanOrEqual(3);
    expect(retrier!.BackoffRate).toBeGreaterThan(1);
  });

  it.each(tasks)('%s has a final Catch of every error, so no failure leaves the deployment open', (_name, state) => {
    const last = state.Catch?.at(-1);
    expect(last?.ErrorEquals).toEqual(['States.ALL']);
    expect(definition.States[last!.Next]).toBeDefined();
  });

  it('a step that keeps failing ends in WorkflowFailed, which settles the deployment Failed (fail-deployment)', () => {
    const failed = definition.States.WorkflowFailed!;
    expect(failed.Type).toBe('Task');
    expect(JSON.stringify(failed)).toContain('${FailDeploymentFunctionArn}');
    const reaching = tasks.filter(([, state]) => state.Catch?.some((c) => c.Next === 'WorkflowFailed')).map(([name]) => name);
    // RequestGrant's final Catch settles through Settle (which fails the deployment naming the grant error).
    expect(reaching.sort()).toEqual(tasks.map(([name]) => name).filter((name) => !['WorkflowFailed', 'RequestGrant'].includes(name)).sort());
    expect(definition.States.RequestGrant!.Catch!.at(-1)!.Next).toBe('Settle');
  });

  it('names no partition: service integrations are arn:${Partition}:states:::… (aws-cn, aws-us-gov too)', () => {
    expect(source).not.toContain('arn:aws:');
    for (const [, state] of tasks) expect(state.Resource).toMatch(new RegExp(`^arn:\\$\\{${PARTITION_SUBSTITUTION}\\}:states:::`));
  });
});
