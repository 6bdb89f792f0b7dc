import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { localClients } from './clients.ts';
import { useOwnStack } from './own-stack.ts';
import { whenTestEnds } from './test-scope.ts';

/**
 * Seconds a key server gets to take a request and to answer a grant, and targets to report, on the
 * fault stack. Two files sit through the whole target wait (a target killed mid-install, a report
 * the consumer cannot record): 15 s is several times what an install here takes, and no longer.
 */
export const FAULT_TIMEOUTS = { ackSeconds: 3, grantSeconds: 20, targetSeconds: 15 };

/**
 * Issue #11's fault tests: a stack of this file's own, whose deploy waits are short enough to
 * sit through (DEPLOY_GRANT_TIMEOUT_SECONDS, DEPLOY_TARGET_TIMEOUT_SECONDS), with the support
 * helpers pointed at it. Agents count as online for 30 s after a heartbeat, so a key server
 * paused for a few seconds is still asked.
 */
export const useFaultStack = () =>
  useOwnStack({
    AGENT_ONLINE_SECONDS: '30',
    AGENT_HEARTBEAT_SECONDS: '1',
    AGENT_ACK_SECONDS: String(FAULT_TIMEOUTS.ackSeconds),
    DEPLOY_GRANT_TIMEOUT_SECONDS: String(FAULT_TIMEOUTS.grantSeconds),
    DEPLOY_TARGET_TIMEOUT_SECONDS: String(FAULT_TIMEOUTS.targetSeconds),
  });

/** Messages on an SQS queue: waiting to be received, and received but not deleted (in flight). */
export const queueDepth = async (queueUrl: string) => {
  const { Attributes = {} } = await localClients().sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return { visible: Number(Attributes.ApproximateNumberOfMessages ?? 0), inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) };
};

/** A directory to push, holding `files` (name -> content); removed when the test ends. */
export const sourceDir = async (files: Record<string, string>) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-fault-src-'));
  whenTestEnds(() => rm(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
  return dir;
};
