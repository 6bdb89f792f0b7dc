import { z } from 'zod';
import { accountId, appId, isoTime } from './common.ts';
import { deployMessages } from './deploy-messages.ts';
import { releaseId } from './releases.ts';
import { signedStatement, signedStatementOf } from './statements.ts';
import { agentProof, agentRole, base64url, masterCommitmentHex, publicKey32, signature64 } from './trust.ts';

/** Every message between backend and agents carries a request id: both sides dedupe on it. */
export const requestId = z.string().regex(/^req_[0-9a-f]{32}$/, 'must be a request id (req_ + 32 hex)');
export const agentId = z.string().regex(/^agt_[0-9a-f]{32}$/, 'must be an agent id (agt_ + 32 hex)');
/** Step Functions task tokens are opaque and at most 1024 characters. */
export const taskToken = z.string().min(1).max(1024);
/** An HPKE envelope or a master-key wrap, base64url; small (keys, not payloads). */
export const wrapped = base64url.min(16).max(4096);
export const masterVersion = z.number().int().min(1).max(1_000_000);

/**
 * A peer as the backend presents it: its keys, the proof of its enrolment, and the owner's agent
 * statement confirming those keys (absent until the owner confirms it: peers then refuse it).
 */
export const agentRecord = z.strictObject({
  agentId,
  role: agentRole,
  encryptionKey: publicKey32,
  signingKey: publicKey32,
  proof: agentProof,
  statement: signedStatementOf('agent').optional(),
});
export type AgentRecord = z.infer<typeof agentRecord>;

/**
 * The receiving key server's own copy of a master key version, as every request that hands one
 * over carries it: HPKE-wrapped to the receiver, with the commitment and signature of the key
 * server that wrapped it (trust.ts, masterWrapStatement) and that key server's record, so the
 * receiver can check who vouched for the copy before it opens it. Spread into a request schema.
 */
export const masterCopyFields = {
  wrappedMaster: wrapped,
  masterCommitment: masterCommitmentHex,
  masterWrapSignature: signature64,
  masterWrapper: agentRecord,
};
export type MasterCopy = { wrappedMaster: string; masterCommitment: string; masterWrapSignature: string; masterWrapper: AgentRecord };

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
  ...masterCopyFields,
  recipients: z.array(agentRecord).min(1).max(50),
});

export const rewrapReleaseKeyRequest = z.strictObject({
  ...requestBase,
  type: z.literal('rewrap-release-key'),
  appId,
  releaseId,
  version: masterVersion,
  ...masterCopyFields,
  /** The release key, HPKE-wrapped to the receiving agent by the pusher. */
  wrappedReleaseKey: wrapped,
});

/**
 * Owner statements an agent should know about, sent to every agent when one matters to all of
 * them (an agent's removal): each agent checks each under its pinned owner key and pins its
 * version, so the backend cannot later show it an older one (a removed agent as active).
 */
export const learnStatementsRequest = z.strictObject({
  ...requestBase,
  type: z.literal('learn-statements'),
  statements: z.array(signedStatement).min(1).max(100),
});

/** The deploy requests (deploy-messages.ts), built from the parts above. */
export const deploy = deployMessages({ requestBase, masterCopyFields, agentRecord, wrapped, masterVersion, agentId });

export const agentRequest = z.discriminatedUnion('type', [
  createMasterKeyRequest,
  shareMasterKeyRequest,
  rewrapReleaseKeyRequest,
  deploy.issueDeploymentGrantRequest,
  deploy.deployReleaseRequest,
  learnStatementsRequest,
]);
export type AgentRequest = z.infer<typeof agentRequest>;
export type AgentRequestType = AgentRequest['type'];

// ---- results, per request type ----

export const masterWraps = z.strictObject({
  version: masterVersion,
  /** One copy per recipient, each signed by the key server that made it (trust.ts, masterWrapStatement). */
  wraps: z.array(z.strictObject({ agentId, wrappedMaster: wrapped, commitment: masterCommitmentHex, signature: signature64 })).min(1).max(50),
});
export const rewrappedReleaseKey = z.strictObject({ version: masterVersion, wrappedReleaseKey: wrapped });

export const resultSchemas = {
  'create-master-key': masterWraps,
  'share-master-key': masterWraps,
  'rewrap-release-key': rewrappedReleaseKey,
  'issue-deployment-grant': deploy.deploymentGrant,
  'deploy-release': deploy.deployReport,
  'learn-statements': z.strictObject({ learned: z.number().int().min(0) }),
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

/**
 * "I have taken this request": sent by a key server as soon as it receives a request, and again
 * every few seconds while it works on it, so a dead key server is passed over within seconds
 * instead of after a whole answer timeout (DESIGN §6).
 */
export const acknowledgement = z.strictObject({ type: z.literal('ack'), requestId, accountId, agentId, taskToken: taskToken.optional(), signature: signature64 });
export type Acknowledgement = z.infer<typeof acknowledgement>;

/** Request types a key server acknowledges: the ones that must reach some key server. */
export const ACKNOWLEDGED_REQUESTS = ['create-master-key', 'share-master-key', 'rewrap-release-key', 'issue-deployment-grant'] as const satisfies readonly AgentRequestType[];

export const replyQueueMessage = z.union([heartbeat, acknowledgement, agentReply]);
export type ReplyQueueMessage = z.infer<typeof replyQueueMessage>;

/** SQS allows 256 KiB; messages are small, so anything near that is refused unread. */
export const MAX_REPLY_BYTES = 64 * 1024;

/** The signed part of a message is everything but the signature. */
export const unsigned = <T extends { signature: string }>(message: T): Omit<T, 'signature'> => {
  const { signature: _signature, ...rest } = message;
  return rest;
};
