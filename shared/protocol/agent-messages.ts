import { z } from 'zod';

/** Every message between backend and agents carries a request id: both sides dedupe on it. */
export const requestId = z.string().regex(/^req_[0-9a-f]{32}$/, 'must be a request id (req_ + 32 hex)');
export const agentId = z.string().regex(/^agt_[0-9a-f]{32}$/, 'must be an agent id (agt_ + 32 hex)');
/** Step Functions task tokens are opaque and at most 1024 characters. */
export const taskToken = z.string().min(1).max(1024);

const replyBase = { requestId, agentId, taskToken: taskToken.optional() };

export const agentReply = z.discriminatedUnion('outcome', [
  z.strictObject({ ...replyBase, outcome: z.literal('succeeded'), result: z.record(z.string(), z.unknown()) }),
  z.strictObject({
    ...replyBase,
    outcome: z.literal('failed'),
    error: z.strictObject({ code: z.string().regex(/^[A-Za-z][A-Za-z0-9.-]{0,63}$/), message: z.string().max(2000) }),
  }),
]);
export type AgentReply = z.infer<typeof agentReply>;

/** SQS allows 256 KiB; replies are small, so anything near that is refused unread. */
export const MAX_REPLY_BYTES = 64 * 1024;
