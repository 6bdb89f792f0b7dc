import { z } from 'zod';
import { environmentId, isoTime } from './common.ts';
import { agentId, agentRecord, masterVersion, wrapped } from './agent-messages.ts';
import { vouchedSigningKey } from './signing-keys.ts';
import { agentBinding, agentRole, enrolmentStatement, publicKey32, signature64 } from './trust.ts';

export const ownerKeyInput = z.strictObject({ publicKey: publicKey32 });
export const ownerKey = z.object({ publicKey: publicKey32, fingerprint: z.string(), registeredAt: isoTime });

/** The key, and the owner's statement for it when the owner registers (or vouches for) it: docs/signing-keys.md. */
export const signingKeyInput = z.strictObject({ publicKey: publicKey32, vouch: vouchedSigningKey.optional() });

/** The CLI makes the one-time token key; only its public half comes here. */
export const createEnrolmentInput = z
  .strictObject({
    role: agentRole,
    environments: z.array(environmentId).max(50).default([]),
    expiresInHours: z.number().int().min(1).max(24 * 7).default(24),
    tokenPublicKey: publicKey32,
  })
  .refine((v) => v.role === 'keyserver' || v.environments.length > 0, {
    message: 'a target serves at least one environment',
    path: ['environments'],
  });

export const enrolment = z.object({
  enrolmentId: z.string(),
  role: agentRole,
  environments: z.array(environmentId),
  expiresAt: isoTime,
  createdAt: isoTime,
  /** What the owner signs (with PUT /enrolments/{id}/signature) before the token can be used. */
  statement: enrolmentStatement,
  signed: z.boolean(),
});

export const enrolmentSignatureInput = z.strictObject({ signature: signature64 });

/** What an enrolling agent reads, to check the owner signature against the key it pinned. */
export const signedEnrolment = z.object({ statement: enrolmentStatement, ownerSignature: signature64 });

export const enrolAgentInput = z.strictObject({
  binding: agentBinding,
  tokenSignature: signature64,
  agentSignature: signature64,
  name: z.string().trim().min(1).max(100).regex(/^[^\p{Cc}\p{Cf}]+$/u).optional(),
});

export const agent = agentRecord.extend({
  name: z.string().optional(),
  environments: z.array(environmentId),
  enrolledAt: isoTime,
  lastSeenAt: isoTime.optional(),
  online: z.boolean(),
  /** Master key versions this key server holds a wrapped copy of. */
  masterVersions: z.array(masterVersion),
});

export const enrolledAgent = z.object({ agentId, queueUrl: z.string() });

/** The master key as people need to see it (GET /master-key). */
export const masterKeyStatus = z.object({
  /** The version new releases are sealed under; null while there is none (no pair yet, or being replaced after a removal). */
  version: masterVersion.nullable(),
  /** Versions at or below this take no new releases: a key server that could hold them was removed. */
  retiredThrough: z.number().int(),
  keyServers: z.array(
    z.object({
      agentId,
      name: z.string().optional(),
      online: z.boolean(),
      /** The versions it holds a copy of. */
      versions: z.array(masterVersion),
      /** Whether it holds `version`; a key server that does not is still learning it. */
      holdsCurrent: z.boolean(),
    }),
  ),
  /** Online key servers holding `version`: 1 is one loss away from losing every release under it. */
  onlineHolders: z.number().int(),
});

export const sessionInput = z.strictObject({ at: isoTime, signature: signature64 });

export const session = z.object({
  agentId,
  region: z.string(),
  queueUrl: z.string(),
  replyQueueUrl: z.string(),
  credentials: z.object({ accessKeyId: z.string(), secretAccessKey: z.string(), sessionToken: z.string().optional(), expiration: isoTime }),
  /** Set only by the local stack, whose SQS is not at the regional endpoint. */
  sqsEndpoint: z.string().optional(),
  /** How often the agent should send a heartbeat on the reply queue. */
  heartbeatSeconds: z.number().int(),
  /**
   * The releases bucket's URL prefix (origin, and the bucket's path where buckets are addressed by
   * path): a target downloads from nowhere else, and refuses a deploy request naming another URL
   * before connecting (DESIGN §6). A backend that names none gets no downloads.
   */
  releasesOrigin: z.string().url().max(2048).optional(),
});

export const sealReleaseInput = z.strictObject({
  /** The key server the pusher chose, and the release key HPKE-wrapped to it. */
  agentId,
  wrappedReleaseKey: wrapped,
});
