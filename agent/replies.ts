import { acknowledgement, agentReply, heartbeat, MAX_REPLY_BYTES } from '#shared/protocol/agent-messages.ts';
import { signAgentMessage } from '#shared/protocol/trust.ts';

/** What a request came to: a result, or a refusal with a code and a message naming ids only. */
export type Outcome =
  | { outcome: 'succeeded'; result: Record<string, unknown> }
  | { outcome: 'failed'; error: { code: string; message: string } };

export const failed = (code: string, message: string): Outcome => ({ outcome: 'failed', error: { code, message: message.slice(0, 2000) } });

export interface Signer {
  /** Replies and heartbeats name the account, so the backend looks the agent up within it. */
  accountId: string;
  agentId: string;
  signingSeed: Uint8Array;
}

/**
 * A signed reply, ready for the reply queue. The signature covers every field but itself
 * (`unsigned(message)`), so the backend can tell which agent answered and that nobody edited it.
 * The message is checked against the protocol schema here: a drift shows up as a loud error in
 * the agent, not as a reply the consumer silently drops.
 */
export const signedReply = (signer: Signer, request: { requestId: string; taskToken?: string | undefined }, outcome: Outcome): string => {
  const body = {
    type: 'reply' as const,
    requestId: request.requestId,
    accountId: signer.accountId,
    agentId: signer.agentId,
    ...(request.taskToken === undefined ? {} : { taskToken: request.taskToken }),
    ...outcome,
  };
  const message = agentReply.parse({ ...body, signature: signAgentMessage(signer.signingSeed, body) });
  const text = JSON.stringify(message);
  if (Buffer.byteLength(text, 'utf8') > MAX_REPLY_BYTES) throw new Error(`reply to ${request.requestId} is larger than ${MAX_REPLY_BYTES} bytes`);
  return text;
};

export const signedHeartbeat = (signer: Signer, at: Date): string => {
  const body = { type: 'heartbeat' as const, accountId: signer.accountId, agentId: signer.agentId, at: at.toISOString() };
  return JSON.stringify(heartbeat.parse({ ...body, signature: signAgentMessage(signer.signingSeed, body) }));
};

/** "I have taken this request" (agent-messages.ts, acknowledgement), signed like every message. */
export const signedAck = (signer: Signer, request: { requestId: string; taskToken?: string | undefined }): string => {
  const body = {
    type: 'ack' as const,
    requestId: request.requestId,
    accountId: signer.accountId,
    agentId: signer.agentId,
    ...(request.taskToken === undefined ? {} : { taskToken: request.taskToken }),
  };
  return JSON.stringify(acknowledgement.parse({ ...body, signature: signAgentMessage(signer.signingSeed, body) }));
};
