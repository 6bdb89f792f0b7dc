import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { signReceipt } from '#shared/protocol/receipts.ts';
import type { Caller } from './accounts.ts';
import { enrolAgent, registerOwnerKey } from './agents.ts';
import { localClients } from './clients.ts';
import { whenTestEnds } from './test-scope.ts';

/**
 * A target of `environmentId` that speaks the protocol and installs nothing: it answers every
 * deploy-release request on its queue with a signed success report and receipt, for tests about approvals
 * (not about installing) that need a deployment to reach Succeeded. Stops when the test ends.
 * Tests of the target itself run the real `latchkey-agent` (test/support/deploy-agents.ts).
 */
export const answeringTarget = async (owner: Caller, environmentId: string, registered?: { publicKey: Uint8Array; privateKey: Uint8Array }) => {
  const ownerKey = registered ?? (await registerOwnerKey(owner));
  const target = await enrolAgent(owner, ownerKey, 'target', [environmentId]);
  return { ...target, ownerKey, answered: answerDeployRequests(target, target.queueUrl) };
};

/**
 * Starts answering the deploy-release requests on `queueUrl` for a target enrolled already (one
 * that was not running until now); returns the deployment ids answered, as they come.
 */
export const answerDeployRequests = (target: Awaited<ReturnType<typeof enrolAgent>>, queueUrl: string) => {
  const { sqs, env } = localClients();
  const answered: string[] = [];
  const stop = new AbortController();
  const loop = (async () => {
    while (!stop.signal.aborted) {
      const received = await sqs
        .send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10 }), { abortSignal: stop.signal })
        .catch(() => ({ Messages: [] }));
      for (const message of received.Messages ?? []) {
        const request = JSON.parse(message.Body!) as { type: string; requestId: string; deploymentId: string; releaseId: string; environmentId: string; digest: string };
        if (request.type === 'deploy-release') {
          const current = `test-${request.deploymentId}`;
          // Signed as a real target signs what it installed (agent/handlers/receipts.ts).
          const receipt = signReceipt(target.keys.signing.privateKey, {
            v: 1,
            kind: 'release-installed',
            accountId: target.accountId,
            agentId: target.agentId,
            deploymentId: request.deploymentId,
            releaseId: request.releaseId,
            environmentId: request.environmentId,
            digest: request.digest,
            current,
            installedAt: new Date().toISOString(),
          });
          const reply = target.sign({
            type: 'reply',
            requestId: request.requestId,
            accountId: target.accountId,
            agentId: target.agentId,
            outcome: 'succeeded',
            result: { deploymentId: request.deploymentId, releaseId: request.releaseId, current, output: '', receipt },
          });
          await sqs.send(new SendMessageCommand({ QueueUrl: env.AGENT_REPLY_QUEUE_URL!, MessageBody: JSON.stringify(reply) }));
          answered.push(request.deploymentId);
        }
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle! }));
      }
    }
  })();
  try {
    whenTestEnds(async () => {
      stop.abort();
      await loop;
    });
  } catch {
    // Set up in a beforeAll (outside any test): it answers until its test file ends.
  }
  return answered;
};
