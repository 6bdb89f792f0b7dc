import { SendTaskFailureCommand, SendTaskSuccessCommand, TaskDoesNotExist, TaskTimedOut, InvalidToken } from '@aws-sdk/client-sfn';
import type { SQSRecord } from 'aws-lambda';
import { agentReply, MAX_REPLY_BYTES, type AgentReply } from '#shared/protocol/agent-messages.ts';
import { sfn } from '../adapters/aws-clients.ts';
import { logger } from '../observability.ts';
import { sqsHandler } from '../queue/sqs-handler.ts';

const parseReply = (record: SQSRecord): AgentReply | undefined => {
  if (Buffer.byteLength(record.body, 'utf8') > MAX_REPLY_BYTES) return undefined;
  try {
    const parsed = agentReply.safeParse(JSON.parse(record.body));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
};

const resumeWaitingTask = async (reply: AgentReply & { taskToken: string }) => {
  const { requestId, agentId, taskToken } = reply;
  try {
    if (reply.outcome === 'succeeded') {
      await sfn().send(
        new SendTaskSuccessCommand({ taskToken, output: JSON.stringify({ requestId, agentId, result: reply.result }) }),
      );
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
      logger.info('reply for a closed task ignored', { requestId: reply.requestId, error: (error as Error).name });
      return;
    }
    throw error;
  }
};

export const consumeAgentReply = async (record: SQSRecord): Promise<void> => {
  const reply = parseReply(record);
  if (!reply) {
    // Retrying a malformed message cannot make it valid: drop it, say so, keep its id only.
    logger.warn('malformed agent reply dropped', { messageId: record.messageId });
    return;
  }
  logger.info('agent reply', { requestId: reply.requestId, agentId: reply.agentId, outcome: reply.outcome });
  if (reply.taskToken) await resumeWaitingTask({ ...reply, taskToken: reply.taskToken });
};

export const handler = sqsHandler(consumeAgentReply);
