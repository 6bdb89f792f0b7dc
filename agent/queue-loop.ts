import { setTimeout as sleep } from 'node:timers/promises';
import { ACKNOWLEDGED_REQUESTS, agentRequest, requestId as requestIdSchema, type AgentRequest } from '#shared/protocol/agent-messages.ts';
import { errorFields, type Logger } from './log.ts';
import type { RequestProcessor } from './requests.ts';
import { signedAck, signedHeartbeat, signedReply, type Signer } from './replies.ts';
import type { AgentQueue, ReceivedMessage } from './sqs.ts';
import { isCredentialError } from './sqs.ts';

/** SQS long polling: the longest wait SQS allows, so an idle agent costs one call per 20 s. */
export const WAIT_SECONDS = 20;
const MAX_BACKOFF_MS = 30_000;
/**
 * While a key-server request is in hand it is acknowledged again this often: the backend passes
 * over a key server whose acknowledgements stop (AGENT_ACK_SECONDS, at least twice this).
 */
export const ACK_EVERY_MS = 2_000;

const acknowledged = new Set<AgentRequest['type']>(ACKNOWLEDGED_REQUESTS);

/**
 * Sends "taken" at once and then every `ACK_EVERY_MS` until `stop()`. An acknowledgement that
 * cannot be sent is only logged: the request is still answered, and the backend's worst case is
 * asking another key server too.
 */
const keepAcknowledging = (request: AgentRequest, deps: { queue: AgentQueue; signer: Signer; log: Logger }) => {
  if (!acknowledged.has(request.type)) return () => {};
  const ack = () =>
    deps.queue.send(signedAck(deps.signer, request)).catch((error: unknown) => deps.log.warn('acknowledgement not sent', { requestId: request.requestId, ...errorFields(error) }));
  void ack();
  const timer = setInterval(() => void ack(), ACK_EVERY_MS);
  return () => clearInterval(timer);
};

/** The request id of a message that failed validation, if one can be read, for the log. */
const requestIdOf = (value: unknown) => {
  const id = (value as { requestId?: unknown } | null)?.requestId;
  return requestIdSchema.safeParse(id).success ? (id as string) : undefined;
};

/**
 * One message, start to finish:
 *   1. parse and validate; a malformed message is deleted (retrying cannot fix it) and logged by id;
 *   2. acknowledge a key-server request (now and while working on it);
 *   3. get the outcome (journaled by the processor before it returns);
 *   4. send the signed reply; 5. only then delete the request.
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
    // Where it failed (field paths and the kind of problem, never a value), for whoever reads the log.
    const issues = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.')}: ${issue.code}`).join('; ');
    log.warn('malformed request dropped', { messageId: message.messageId, requestId: requestIdOf(json), issues });
    await queue.delete(message.receiptHandle);
    return;
  }
  const request = parsed.data;
  log.debug('request received', { messageId: message.messageId, requestId: request.requestId, type: request.type, receiveCount: message.receiveCount });
  const stopAcknowledging = keepAcknowledging(request, deps);
  let result: Awaited<ReturnType<RequestProcessor>>;
  try {
    result = await deps.process(request, message.receiveCount);
  } finally {
    stopAcknowledging();
  }
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
  // Installs run on a lane of their own, one at a time: a key server that also installs keeps
  // taking (and acknowledging) key requests while a release unpacks, instead of looking dead.
  let installs: Promise<void> = Promise.resolve();
  // A message handed out again while it waits on the lane (its visibility ran out) is not queued twice.
  const onLane = new Set<string>();
  const handle = async (message: ReceivedMessage) => {
    try {
      await handleMessage(message, options);
    } catch (error) {
      if (isCredentialError(error)) options.onCredentialError();
      log.warn('request left for redelivery', { messageId: message.messageId, ...errorFields(error) });
    }
  };
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
      // Key requests one at a time: two handlers never race on one request id.
      for (const message of messages) {
        if (signal.aborted) break; // the rest come back after their visibility timeout
        if (!isInstall(message)) {
          await handle(message);
        } else if (!onLane.has(message.messageId)) {
          onLane.add(message.messageId);
          installs = installs.then(() => (signal.aborted ? undefined : handle(message))).finally(() => onLane.delete(message.messageId));
        }
      }
      if (options.once) break;
    }
  } finally {
    if (timer) clearInterval(timer);
    // The install in hand finishes; installs not started come back after their visibility timeout.
    await installs;
  }
};

/** A deploy-release request, told from its body without a full parse (handleMessage validates it). */
const isInstall = (message: ReceivedMessage) => {
  try {
    return (JSON.parse(message.body) as { type?: unknown } | null)?.type === 'deploy-release';
  } catch {
    return false;
  }
};
