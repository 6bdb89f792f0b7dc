import { SendTaskFailureCommand, SendTaskSuccessCommand, TaskDoesNotExist, TaskTimedOut, InvalidToken } from '@aws-sdk/client-sfn';
import type { SQSRecord } from 'aws-lambda';
import { judgeHeartbeat } from '#shared/domain/agents/liveness.ts';
import { idsOf, makeRefusedMessages, type RefusedMessage, type Refusal } from '#shared/domain/agents/refused-messages.ts';
import { targetRequestId } from '#shared/domain/deploys/deploys.ts';
import { deploy, MAX_REPLY_BYTES, replyQueueMessage, unsigned, type AgentReply, type ReplyQueueMessage } from '#shared/protocol/agent-messages.ts';
import { fromB64, verifyAgentMessage } from '#shared/protocol/trust.ts';
import { agentStore, audit } from '../api/directory-context.ts';
import { masterKeys } from '../agents-context.ts';
import { deploys } from '../workflow/deploys-context.ts';
import { sfn } from '../adapters/aws-clients.ts';
import { logger } from '../observability.ts';
import { sqsHandler } from '../queue/sqs-handler.ts';

type Parsed = { message: ReplyQueueMessage } | { refusal: Refusal; ids: Omit<RefusedMessage, 'messageId'> };

const parse = (record: SQSRecord): Parsed => {
  // Refused unread: parsing is where a huge message would cost us.
  if (Buffer.byteLength(record.body, 'utf8') > MAX_REPLY_BYTES) return { refusal: 'TooLarge', ids: {} };
  let json: unknown;
  try {
    json = JSON.parse(record.body);
  } catch {
    return { refusal: 'NotJson', ids: {} };
  }
  const parsed = replyQueueMessage.safeParse(json);
  return parsed.success ? { message: parsed.data } : { refusal: 'Malformed', ids: idsOf(json) };
};

/** A target's report counts only for the deployment its request was for; that request's id is derived from the two. */
const reportsAnotherDeployment = (reply: AgentReply) => {
  if (reply.outcome !== 'succeeded') return false;
  const report = deploy.deployReport.safeParse(reply.result);
  return report.success && targetRequestId(report.data.deploymentId, reply.agentId) !== reply.requestId;
};

const refusedMessages = makeRefusedMessages({ agents: agentStore, audit });

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

/** When SQS took the message: the backend's clock, never the agent's (liveness.ts). */
const receivedAt = (record: SQSRecord) => {
  const sent = Number(record.attributes?.SentTimestamp);
  return Number.isFinite(sent) && sent > 0 ? new Date(sent) : new Date();
};

/**
 * One message from the shared reply queue. It counts only if its agent is enrolled in the
 * account it names and it carries that agent's signature; then a heartbeat marks the agent
 * seen (and lets the master-key plan run: a key server that died is noticed by time passing),
 * an acknowledgement records that a key server took a request (and keeps a grant wait alive),
 * and a reply completes the request it answers (once: requests close pending -> done) and, if a
 * workflow waits on it, resumes the workflow.
 */
export const consumeAgentReply = async (record: SQSRecord): Promise<void> => {
  // Retrying a malformed or forged message cannot make it valid: it is dropped, and audited
  // where it can be attributed (refused-messages.ts); the log names ids, never the payload.
  const refuse = async (refusal: Refusal, ids: Omit<RefusedMessage, 'messageId'>) => {
    const audited = await refusedMessages.refuse({ messageId: record.messageId, ...ids }, refusal);
    logger.warn('agent message refused', { messageId: record.messageId, refusal, audited, ...ids });
  };
  const parsed = parse(record);
  if ('refusal' in parsed) return refuse(parsed.refusal, parsed.ids);
  const { message } = parsed;
  const ids = { accountId: message.accountId, agentId: message.agentId, ...(message.type === 'reply' ? { requestId: message.requestId } : {}) };
  const agent = await agentStore.getAgent(message.accountId, message.agentId);
  if (!agent) return refuse('UnknownAgent', ids);
  if (!verifyAgentMessage(fromB64(agent.signingKey), unsigned(message), message.signature)) return refuse('BadSignature', ids);
  if (agent.removedAt) return refuse('RemovedAgent', ids);
  if (message.type === 'heartbeat') {
    const received = receivedAt(record);
    const verdict = judgeHeartbeat(message.at, received, agent.lastHeartbeatAt);
    if (!verdict.accept || !(await agentStore.markSeen(message.accountId, message.agentId, { claimedAt: message.at, receivedAt: received.toISOString() }))) {
      // Out of order (SQS does not keep order), replayed, or with a clock far off: not a sign of life.
      logger.info('heartbeat not counted', { ...ids, reason: verdict.accept ? 'Replayed' : verdict.reason });
      return;
    }
    if (agent.role === 'keyserver') {
      const plan = await masterKeys.reconcile(message.accountId);
      if (plan?.ask.length || plan?.abandon.length) logger.info('master key plan', { accountId: message.accountId, asked: plan.ask.map((j) => `${j.kind}:v${j.version}:${j.agentId}`), gaveUp: plan.abandon.map((a) => a.reason) });
      for (const { requestId, error } of plan?.unsent ?? []) logger.warn('master key request not sent', { requestId, error: (error as Error).name });
    }
    return;
  }

  // A reply is taken only for a request we sent to this very agent: another agent, even a
  // genuine one, can neither answer it nor resume the workflow waiting on it.
  const request = await agentStore.getRequest(message.accountId, message.requestId);
  if (!request) return refuse('UnknownRequest', ids);
  if (request.agentId !== message.agentId) return refuse('NotThisAgentsRequest', ids);
  if (message.type === 'ack') {
    if (request.state !== 'pending') return;
    await masterKeys.onAcknowledged(request);
    if (request.type === 'deploy') await deploys.onGrantAcknowledged(request);
    return;
  }
  if (request.type === 'deploy' && reportsAnotherDeployment(message)) return refuse('ReportForAnotherDeployment', ids);
  logger.info('agent reply', { requestId: message.requestId, agentId: message.agentId, outcome: message.outcome });
  if (request.state === 'pending' && request.type !== 'deploy') await masterKeys.onReply(request, message, agent);
  // The deploy step's requests carry no token on record: the grant, or a target's report, is kept
  // on the deployment and resumes the wait parked there now (the workflow may have run again).
  if (request.type === 'deploy') await deploys.onDeployReply(request, message);
  if (request.taskToken && message.taskToken === request.taskToken) await resumeWaitingTask({ ...message, taskToken: request.taskToken });
};

export const handler = sqsHandler(consumeAgentReply);
