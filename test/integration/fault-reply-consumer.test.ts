import { GetQueueAttributesCommand, GetQueueUrlCommand, ReceiveMessageCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { targetRequestId } from '#shared/domain/deploys/deploys.ts';
import { queues } from '../../functions/resources.ts';
import { localClients, waitFor } from '../support/clients.ts';
import { deployAndWait, expectSucceeded, startTarget, untilEnded, type Deployment } from '../support/deploy-agents.ts';
import { push } from '../support/deploy-release.ts';
import { FAULT_TIMEOUTS, sourceDir, useFaultStack } from '../support/fault-stack.ts';
import { cliSession } from './cli/run-cli.ts';

/** The reply queue's dead-letter queue, found through its redrive policy. */
const replyQueues = async () => {
  const { sqs, env } = localClients();
  const url = env[queues.agentReplies.envVar]!;
  const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['RedrivePolicy'] }));
  const redrive = JSON.parse(Attributes.RedrivePolicy!) as { deadLetterTargetArn: string; maxReceiveCount: number | string };
  const { QueueUrl: dlq } = await sqs.send(new GetQueueUrlCommand({ QueueName: redrive.deadLetterTargetArn.split(':').pop()! }));
  return { url, dlq: dlq!, maxReceiveCount: Number(redrive.maxReceiveCount) };
};

/**
 * Issue #11, a fault: a genuine, signed target report whose processing throws. The consumer
 * cannot record it because the store refuses the write: the deployment item's report map is
 * broken on purpose (a DynamoDB ValidationException, standing in for any store failure the
 * protocol's own messages cannot cause). The message is retried, dead-lettered after the
 * redrive policy's receives, and the deployment ends Failed when its target wait times out.
 */
describe('a reply the consumer throws on', () => {
  useFaultStack();

  it('is retried, then dead-lettered; the deployment fails at its target timeout naming the target, and the consumer keeps working', { timeout: 120_000 }, async () => {
    // Prepare: a plain app, one target; the reply queue redelivers after 1 s (not 180).
    const cli = await cliSession();
    const { accountId } = await cli.signup();
    await cli.json(['envs', 'create', 'web']);
    await cli.json(['apps', 'create', 'site']);
    await push(cli, 'site', await sourceDir({ 'index.html': '<h1>v1</h1>\n', 'latchkey.yml': 'install: echo installed\n' }), '1.0.0');
    const target = await startTarget(cli, 'tw', ['web']);
    const { sqs, dynamo, env } = localClients();
    const replies = await replyQueues();
    expect(replies.maxReceiveCount).toBe(queues.agentReplies.maxReceiveCount);
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: replies.url, Attributes: { VisibilityTimeout: '1' } }));

    // Act: the target pauses until the deploy step has recorded its run; the run's report map
    // is then broken, so the update that records the target's report fails.
    target.process!.child.kill('SIGSTOP');
    const { deploymentId } = await cli.json<Deployment>(['deploy', 'site', '1.0.0', 'web']);
    const key = { pk: `ACCOUNT#${accountId}`, sk: `DEPLOYMENT#${deploymentId}` };
    await waitFor('the deploy run to name the target', async () => {
      const { Item } = await dynamo.send(new GetCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: key, ConsistentRead: true }));
      return (Item?.deployTargets as string[] | undefined)?.includes(target.agentId) ? true : undefined;
    }, 30_000);
    await dynamo.send(new UpdateCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: key, UpdateExpression: 'SET targetReports = :broken', ExpressionAttributeValues: { ':broken': 'not a map' } }));
    target.process!.child.kill('SIGCONT');

    // Assess: the report is in the DLQ after its retries; the deployment did not hang.
    const requestId = targetRequestId(deploymentId, target.agentId);
    await target.process!.answered('deploy-release', 'succeeded', 30_000);
    const dead = await waitFor('the report in the reply DLQ', async () => {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: replies.dlq, WaitTimeSeconds: 1, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['All'] }));
      return Messages.find((m) => (JSON.parse(m.Body!) as { requestId?: string }).requestId === requestId);
    }, 60_000);
    expect(Number(dead.Attributes?.ApproximateReceiveCount)).toBeGreaterThanOrEqual(replies.maxReceiveCount);
    const failed = await untilEnded(cli, deploymentId, (FAULT_TIMEOUTS.targetSeconds + 30) * 1000);
    expect(failed.state).toBe('Failed');
    expect(failed.outcome?.reason).toBe(`Failed on 1 of 1 targets. tw (${target.agentId}): did not report within ${FAULT_TIMEOUTS.targetSeconds} s`);

    // The consumer still takes replies: the next deployment's report ends it.
    expectSucceeded(await deployAndWait(cli, 'site', '1.0.0', 'web'));
  });
});
