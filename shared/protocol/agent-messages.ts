import { z } from 'zod';
import { accountId, appId, isoTime } from './common.ts';
import { releaseId } from './releases.ts';
import { agentProof, agentRole, base64url, publicKey32, signature64 } from './trust.ts';

/** Every message between backend and agents carries a request id: both sides dedupe on it. */
export const requestId = z.string().regex(/^req_[0-9a-f]{32}$/, 'must be a request id (req_ + 32 hex)');
export const agentId = z.string().regex(/^agt_[0-9a-f]{32}$/, 'must be an agent id (agt_ + 32 hex)');
/** Step Functions task tokens are opaque and at most 1024 characters. */
export const taskToken = z.string().min(1).max(1024);
/** An HPKE envelope or a master-key wrap, base64url; small (keys, not payloads). */
export const wrapped = base64url.min(16).max(4096);
export const masterVersion = z.number().int().min(1).max(1_000_000);

/** A peer as the backend presents it: its keys and the proof an agent checks before trusting it. */
export const agentRecord = z.strictObject({
  agentId,
  role: agentRole,
  encryptionKey: publicKey32,
  signingKey: publicKey32,
  proof: agentProof,
});
export type AgentRecord = z.infer<typeof agentRecord>;

// ---- requests: backend -> one agent, on that agent's own queue ----

const requestBase = { requestId, accountId, taskToken: taskToken.optional(), sentAt: isoTime };

export const createMasterKeyRequest = z.strictObject({
  ...requestBase,
  type: z.literal('create-master-key'),
  version: masterVersion,
  /** Every key server that gets a copy, the receiving agent included. */
  holders: z.array(agentRecord).min(1).max(50),
});

export const shareMasterKeyRequest = z.strictObject({
  ...requestBase,
  type: z.literal('share-master-key'),
  version: masterVersion,
  /** The receiving agent's own copy, HPKE-wrapped to its encryption key. */
  wrappedMaster: wrapped,
  recipients: z.array(agentRecord).min(1).max(50),
});

export const rewrapReleaseKeyRequest = z.strictObject({
  ...requestBase,
  type: z.literal('rewrap-release-key'),
  appId,
  releaseId,
  version: masterVersion,
  wrappedMaster: wrapped,
  /** The release key, HPKE-wrapped to the receiving agent by the pusher. */
  wrappedReleaseKey: wrapped,
});

export const agentRequest = z.discriminatedUnion('type', [createMasterKeyRequest, shareMasterKeyRequest, rewrapReleaseKeyRequest]);
export type AgentRequest = z.infer<typeof agentRequest>;
export type AgentRequestType = AgentRequest['type'];

// ---- results, per request type ----

export const masterWraps = z.strictObject({
  version: masterVersion,
  wraps: z.array(z.strictObject({ agentId, wrappedMaster: wrapped })).min(1).max(50),
});
export const rewrappedReleaseKey = z.strictObject({ version: masterVersion, wrappedReleaseKey: wrapped });

export const resultSchemas = {
  'create-master-key': masterWraps,
  'share-master-key': masterWraps,
  'rewrap-release-key': rewrappedReleaseKey,
} as const satisfies Record<AgentRequestType, z.ZodType>;

// ---- agent -> backend, on the shared reply queue; every message signed by its agent ----

const replyBase = { requestId, accountId, agentId, taskToken: taskToken.optional(), signature: signature64 };

export const agentReply = z.discriminatedUnion('outcome', [
  z.strictObject({ ...replyBase, type: z.literal('reply'), outcome: z.literal('succeeded'), result: z.record(z.string(), z.unknown()) }),
  z.strictObject({
    ...replyBase,
    type: z.literal('reply'),
    outcome: z.literal('failed'),
    error: z.strictObject({ code: z.string().regex(/^[A-Za-z][A-Za-z0-9.-]{0,63}$/), message: z.string().max(2000) }),
  }),
]);
export type AgentReply = z.infer<typeof agentReply>;

export const heartbeat = z.strictObject({ type: z.literal('heartbeat'), accountId, agentId, at: isoTime, signature: signature64 });
export type Heartbeat = z.infer<typeof heartbeat>;

export const replyQueueMessage = z.union([heartbeat, agentReply]);
export type ReplyQueueMessage = z.infer<typeof replyQueueMessage>;

/** SQS allows 256 KiB; messages are small, so anything near that is refused unread. */
export const MAX_REPLY_BYTES = 64 * 1024;

/** The signed part of a message is everything but the signature. */
export const unsigned = <T extends { signature: string }>(message: T): Omit<T, 'signature'> => {
  const { signature: _signature, ...rest } = message;
  return rest;
};
