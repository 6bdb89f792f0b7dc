import { setTimeout as sleep } from 'node:timers/promises';
import { agentRequest, requestId as requestIdSchema } from '#shared/protocol/agent-messages.ts';
import { errorFields, type Logger } from './log.ts';
import type { RequestProcessor } from './requests.ts';
import { signedHeartbeat, signedReply, type Signer } from './replies.ts';
import type { AgentQueue, ReceivedMessage } from './sqs.ts';
import { isCredentialError } from './sqs.ts';

/** SQS long polling: the longest wait SQS allows, so an idle agent costs one call per 20 s. */
export const WAIT_SECONDS = 20;
const MAX_BACKOFF_MS = 30_000;

/** The request id of a message that failed validation, if one can be read, for the log. */
const requestIdOf = (value: unknown) => {
  const id = (value as { requestId?: unknown } | null)?.requestId;
  return requestIdSchema.safeParse(id).success ? (id as string) : undefined;
};

/**
 * One message, start to finish:
 *   1. parse and validate; a malformed message is deleted (retrying cannot fix it) and logged by id;
 *   2. get the outcome (journaled by the processor before it returns);
 *   3. send the signed reply; 4. only then delete the request.
 * A throw from 2–4 leaves the message on the queue for redelivery, which the journal makes safe.
 */
export const handleMessage = async (message: ReceivedMessage, deps: { queue: AgentQueue; process: RequestProcessor; signer: Signer; log: Logger }) => {
  const { queue, log } = deps;
  let json: unknown;
  try {
    json = JSON.parse(message.body);
  } catch {
    json = undefined;
  }
  const parsed = agentRequest.safeParse(json);
  if (!parsed.success) {
    log.warn('malformed request dropped', { messageId: message.messageId, requestId: requestIdOf(json) });
    await queue.delete(message.receiptHandle);
    return;
  }
  const request = parsed.data;
  log.debug('request received', { messageId: message.messageId, requestId: request.requestId, type: request.type, receiveCount: message.receiveCount });
  const result = await deps.process(request, message.receiveCount);
  await queue.send(signedReply(deps.signer, request, result));
  await queue.delete(message.receiptHandle);
  log.info('request answered', {
    requestId: request.requestId,
    type: request.type,
    outcome: result.outcome,
    ...(result.outcome === 'failed' ? { code: result.error.code } : {}),
  });
};

export interface LoopOptions {
  queue: AgentQueue;
  process: RequestProcessor;
  signer: Signer;
  log: Logger;
  heartbeatSeconds: number;
  /** One heartbeat and one poll, then return (tests, cron). */
  once: boolean;
  /** Aborted on SIGTERM/SIGINT: the loop finishes the message in hand and returns. */
  signal: AbortSignal;
  /** Called when the queue refuses the credentials, so the next call opens a new session. */
  onCredentialError: () => void;
  waitSeconds?: number;
}

export const runLoop = async (options: LoopOptions) => {
  const { queue, signer, log, signal } = options;

  const beat = async () => {
    try {
      await queue.send(signedHeartbeat(signer, new Date()));
      log.debug('heartbeat sent', { agentId: signer.agentId });
    } catch (error) {
      if (isCredentialError(error)) options.onCredentialError();
      log.warn('heartbeat failed', errorFields(error));
      if (options.once) throw error;
    }
  };

  await beat();
  const timer = options.once ? undefined : setInterval(() => void beat(), options.heartbeatSeconds * 1000);
  let backoff = 0;
  try {
    while (!signal.aborted) {
      let messages: ReceivedMessage[];
      try {
        messages = await queue.receive(options.waitSeconds ?? WAIT_SECONDS, signal);
        backoff = 0;
      } catch (error) {
        if (signal.aborted) break;
        if (isCredentialError(error)) options.onCredentialError();
        if (options.once) throw error;
        backoff = Math.min(MAX_BACKOFF_MS, Math.max(1000, backoff * 2));
        log.warn('polling failed; retrying', { retryInMs: backoff, ...errorFields(error) });
        await sleep(backoff, undefined, { signal }).catch(() => {});
        continue;
      }
      // One at a time: two handlers never race on one request id, and the journal stays simple.
      for (const message of messages) {
        if (signal.aborted) break; // the rest come back after their visibility timeout
        try {
          await handleMessage(message, options);
        } catch (error) {
          if (isCredentialError(error)) options.onCredentialError();
          log.warn('request left for redelivery', { messageId: message.messageId, ...errorFields(error) });
        }
      }
      if (options.once) break;
    }
  } finally {
    if (timer) clearInterval(timer);
  }
};
