import type { SignedStatement } from '#shared/protocol/statements.ts';
import type { AgentProof } from '#shared/protocol/trust.ts';

export type Agent = {
  accountId: string;
  agentId: string;
  name?: string;
  role: 'keyserver' | 'target';
  environments: string[];
  /** Raw public keys, base64url. */
  encryptionKey: string;
  signingKey: string;
  proof: AgentProof;
  /**
   * The owner's newest agent statement for it (kept with the statements too): forwarded with its
   * record to peers, which refuse it without one that is active and names these keys. Absent
   * until the owner confirms it (`latchkey agents confirm`): until then it gets no keys.
   */
  statement?: SignedStatement<'agent'>;
  queueUrl: string;
  enrolledAt: string;
  /** When the backend received the agent's last heartbeat (the backend's clock: liveness.ts). */
  lastSeenAt?: string;
  /** The time the agent wrote into the last heartbeat accepted: an older or equal one is a replay. */
  lastHeartbeatAt?: string;
  /** When it last failed to take a request in time: offline until a heartbeat newer than this (liveness.ts). */
  unresponsiveSince?: string;
  /** The newest session challenge accepted: an older one is a replay. */
  lastSessionAt?: string;
  removedAt?: string;
};

export type StoredEnrolment = {
  accountId: string;
  enrolmentId: string;
  role: 'keyserver' | 'target';
  environments: string[];
  tokenPublicKey: string;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  ownerSignature?: string;
  usedAt?: string;
  usedBy?: string;
};

/**
 * One master key version wrapped to one key server; the backend never sees it unwrapped. The key
 * server that made the copy (`wrappedBy`) signed it with its commitment (trust.ts,
 * masterWrapStatement): the recipient checks that before opening it.
 */
export type WrappedMaster = {
  accountId: string;
  version: number;
  agentId: string;
  wrappedMaster: string;
  commitment: string;
  signature: string;
  wrappedBy: string;
  createdAt: string;
};

export type WrappedReleaseKey = { accountId: string; releaseId: string; appId: string; version: number; wrappedReleaseKey: string; createdAt: string };

/** A request sent to an agent, kept until its reply: the reply is trusted only for what was asked. */
export type AgentRequestRecord = {
  accountId: string;
  requestId: string;
  type: 'create-master-key' | 'share-master-key' | 'rewrap-release-key' | 'deploy' | 'learn-statements';
  /** The workflow waiting on the reply, if one is: only this agent's reply may resume it. */
  taskToken?: string;
  agentId: string;
  /** Who may receive wraps (master key requests) or which release (rewrap). */
  recipients?: string[];
  releaseId?: string;
  version: number;
  state: 'pending' | 'done' | 'failed';
  createdAt: string;
  /** When the agent first acknowledged taking the request. */
  acknowledgedAt?: string;
  doneAt?: string;
  error?: string;
};
