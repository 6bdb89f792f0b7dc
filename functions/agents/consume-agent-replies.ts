import { SendTaskFailureCommand, SendTaskSuccessCommand, TaskDoesNotExist, TaskTimedOut, InvalidToken } from '@aws-sdk/client-sfn';
import type { SQSRecord } from 'aws-lambda';
import { MAX_REPLY_BYTES, replyQueueMessage, unsigned, type AgentReply, type ReplyQueueMessage } from '#shared/protocol/agent-messages.ts';
import { fromB64, verifyAgentMessage } from '#shared/protocol/trust.ts';
import { agentStore } from '../api/directory-context.ts';
import { masterKeys } from '../agents-context.ts';
import { deploys } from '../workflow/deploys-context.ts';
import { sfn } from '../adapters/aws-clients.ts';
import { logger } from '../observability.ts';
import { sqsHandler } from '../queue/sqs-handler.ts';

const parse = (record: SQSRecord): ReplyQueueMessage | undefined => {
  if (Buffer.byteLength(record.body, 'utf8') > MAX_REPLY_BYTES) return undefined;
  try {
    const parsed = replyQueueMessage.safeParse(JSON.parse(record.body));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
};

const resumeWaitingTask = async (reply: AgentReply & { taskToken: string }) => {
  const { requestId, agentId, taskToken } = reply;
  try {
    if (reply.outcome === 'succeeded') {
      await sfn().send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify({ requestId, agentId, result: reply.result }) }));
    } else {
      await sfn().send(
        new SendTaskFailureCommand({
          taskToken,
          error: `Agent.${reply.error.code}`,
          cause: JSON.stringify({ requestId, agentId, message: reply.error.message }),
        }),
      );
    }
  } catch (error) {
    // A duplicate delivery finds the task already closed: the first delivery had its effect.
    if (error instanceof TaskTimedOut || error instanceof TaskDoesNotExist || error instanceof InvalidToken) {
      logger.info('reply for a closed task ignored', { requestId, error: (error as Error).name });
      return;
    }
    throw error;
  }
};

/**
 * One message from the shared reply queue. It counts only if its agent is enrolled in the
 * account it names and it carries that agent's signature; then a heartbeat marks the agent
 * seen, and a reply completes the request it answers (once: requests close pending -> done)
 * and, if a workflow waits on it, resumes the workflow.
 */
export const consumeAgentReply = async (record: SQSRecord): Promise<void> => {
  const message = parse(record);
  // Retrying a malformed or forged message cannot make it valid: drop it, keep its id only.
  if (!message) return void logger.warn('malformed agent message dropped', { messageId: record.messageId });
  const agent = await agentStore.getAgent(message.accountId, message.agentId);
  if (!agent || agent.removedAt || !verifyAgentMessage(fromB64(agent.signingKey), unsigned(message), message.signature)) {
    return void logger.warn('agent message with no valid signature dropped', { messageId: record.messageId, agentId: message.agentId });
  }
  if (message.type === 'heartbeat') return agentStore.markSeen(message.accountId, message.agentId, message.at);

  logger.info('agent reply', { requestId: message.requestId, agentId: message.agentId, outcome: message.outcome });
  await agentStore.markSeen(message.accountId, message.agentId, new Date().toISOString());
  // A reply is taken only for a request we sent to this very agent: another agent, even a
  // genuine one, can neither answer it nor resume the workflow waiting on it.
  const request = await agentStore.getRequest(message.accountId, message.requestId);
  if (!request || request.agentId !== message.agentId) {
    return void logger.warn('reply to no request of this agent dropped', { requestId: message.requestId, agentId: message.agentId });
  }
  if (request.state === 'pending' && request.type !== 'deploy') await masterKeys.onReply(request, message, agent);
  // A target's report is recorded on its deployment; the last one ends the deploy wait.
  if (request.type === 'deploy') await deploys.onTargetReply(request, message);
  if (request.taskToken && message.taskToken === request.taskToken) await resumeWaitingTask({ ...message, taskToken: request.taskToken });
};

export const handler = sqsHandler(consumeAgentReply);
