import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { enrolAgent } from '../support/agents.ts';
import { localClients, waitFor } from '../support/clients.ts';
import { requestsSent } from '../support/deploy-agents.ts';
import { answerDeployRequests } from '../support/deploy-targets.ts';
import { approvalSetup, executionEnded, waitForState } from '../support/deployments.ts';
import { serveFileFrom, startOwnStack, type OwnStack } from '../support/own-stack.ts';

/**
 * The local stack restarted with --data while a deployment is InProgress: its execution runs
 * again from the start, with new task tokens, and what was on the agents' queues is gone. The
 * deploy step runs again without failing: the plan kept, the target's request sent again, and
 * the report ends the wait parked now. This file runs its own stack processes on one data
 * directory (each start on new free ports); the support helpers are pointed at the one running.
 */
let stack: OwnStack | undefined;
let undo = () => undefined as void;
const start = async (dataDir: string) => {
  undo();
  stack = await startOwnStack({ dataDir, env: { POWERTOOLS_LOG_LEVEL: 'ERROR' }, ...(process.env.LATCHKEY_STACK_LOG ? { logPath: process.env.LATCHKEY_STACK_LOG } : {}) });
  undo = serveFileFrom(stack);
};

/** The deploy step's fields on the deployment item, as stored. */
const deployFields = async (accountId: string, deploymentId: string) => {
  const { dynamo, env } = localClients();
  const { Item } = await dynamo.send(new GetCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: { pk: `ACCOUNT#${accountId}`, sk: `DEPLOYMENT#${deploymentId}` }, ConsistentRead: true }));
  return Item as { state: string; deployTaskToken?: string; deployPlan?: { action: string } } | undefined;
};

describe('the local stack restarted with --data while a deployment waits for its target', () => {
  let dataDir: string | undefined;
  afterAll(async () => {
    undo();
    await stack?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('the deployment continues: the target started after the restart installs, and it Succeeds', { timeout: 180_000 }, async () => {
    // Prepare: an environment without approval whose one target is enrolled but not running, and a deployment to it.
    dataDir = await mkdtemp(path.join(tmpdir(), 'latchkey-deploy-restart-'));
    await start(dataDir);
    const { a, environment, deploy, ownerKey } = await approvalSetup({ enabled: false, target: false });
    const target = await enrolAgent(a.owner, ownerKey, 'target', [environment.environmentId]);
    const { deploymentId } = (await deploy(a.owner)) as { deploymentId: string };
    const before = await waitFor('the deploy step to wait for the target', async () => {
      const item = await deployFields(a.accountId, deploymentId);
      return item?.deployTaskToken ? item : undefined;
    }, 30_000);
    expect(before).toMatchObject({ state: 'InProgress', deployPlan: { action: 'dispatch' } });

    // Act: restart the stack, then start the target.
    await stack!.stop('SIGTERM');
    await start(dataDir);
    const rerun = await waitFor('the deploy step to wait again, with a new token', async () => {
      const item = await deployFields(a.accountId, deploymentId);
      return item?.deployTaskToken && item.deployTaskToken !== before.deployTaskToken ? item : undefined;
    }, 60_000);
    expect(rerun.state).toBe('InProgress');
    const { QueueUrl } = await localClients().sqs.send(new GetQueueUrlCommand({ QueueName: `${localClients().env.AGENT_QUEUE_PREFIX}${target.agentId}` }));
    const answered = answerDeployRequests(target, QueueUrl!);

    // Assess: Succeeded through the execution that ran again; the target was asked with one request record.
    const done = await waitForState(a.owner, deploymentId, 'Succeeded', 60_000);
    expect(done.outcome?.reason).toBe('Installed on 1 target');
    expect(answered).toContain(deploymentId);
    expect((await executionEnded(deploymentId)).status).toBe('SUCCEEDED');
    expect((await requestsSent(a.accountId)).filter((r) => r.agentId === target.agentId)).toHaveLength(1);
  });
});
