import { z } from 'zod';
import { appId, displayName, email, environmentId, groupId, isoTime, slugName, tokenId, userId } from './common.ts';
import { scriptVariables } from './script-variables.ts';

export const role = z.enum(['owner', 'deployer', 'approver']);

/** Disabled people may be enabled again; removed ones never. Neither signs in, approves or counts. */
export const userStatus = z.enum(['active', 'disabled', 'removed']);
/** `status` is always sent; absent (an older server) it means active. */
export const user = z.object({ userId, name: displayName, email, role, status: userStatus.optional(), createdAt: isoTime });
export type UserView = z.infer<typeof user>;
export const userStatusInput = z.strictObject({ status: userStatus });
/** A person after a status change: with the tokens it revoked (theirs, and those made with them). */
export const userWithStatus = user.extend({
  revokedTokens: z.array(tokenId),
  /** Enabled again: a first token, shown once, as when they were added. */
  firstToken: z.object({ tokenId, secret: z.string(), expiresAt: isoTime }).optional(),
});
export const createUserInput = z.strictObject({ name: displayName, email, role: z.enum(['deployer', 'approver']) });

/** A new person's first token, shown once to the owner to hand over; valid for a week. */
export const createdUser = user.extend({
  firstToken: z.object({ tokenId, secret: z.string(), expiresAt: isoTime }),
});

export const me = z.object({
  accountId: z.string(),
  accountName: z.string(),
  user,
  tokenId,
  /** The owner key agents pin, once registered. */
  ownerKey: z.object({ publicKey: z.string(), fingerprint: z.string() }).optional(),
  /** Your release-signing key, once registered; vouched once the owner key signed for it. */
  signingKey: z.object({ publicKey: z.string(), fingerprint: z.string(), vouched: z.boolean().optional() }).optional(),
});

export const token = z.object({
  tokenId,
  userId,
  label: z.string(),
  createdAt: isoTime,
  expiresAt: isoTime,
  revokedAt: isoTime.optional(),
  /** The token it was made with: it expires no later than that one, and is revoked with it. */
  parentTokenId: tokenId.optional(),
});
export const createTokenInput = z.strictObject({
  label: displayName,
  /** Default 90 days; at most a year, so a forgotten token does not live for ever; never past the token making it. */
  expiresInDays: z.number().int().min(1).max(365).default(90),
});
export const createdToken = token.extend({ secret: z.string() });
/** A revoked token, and the tokens made with it (transitively), revoked with it. */
export const revokedToken = token.extend({ alsoRevoked: z.array(tokenId) });
export const revokedTokens = z.object({ userId, revoked: z.array(tokenId) });

export const group = z.object({ groupId, name: slugName, members: z.array(userId), createdAt: isoTime });
export const createGroupInput = z.strictObject({ name: slugName });

export const approvalPolicy = z.strictObject({
  enabled: z.boolean(),
  approverGroups: z.array(groupId).max(20),
  requiredApprovals: z.number().int().min(1).max(20),
  preventSelfApproval: z.boolean(),
  /** Hours, fractions allowed (0.25 = 15 minutes); from one second to 30 days. */
  windowHours: z.number().min(1 / 3600).max(24 * 30),
  /**
   * Approvals must be signed by the approvers (`latchkey approve`); otherwise the email link's click
   * is the backend's word. A new environment requires them unless the owner opts out (`false`);
   * an environment stored before that default, without the field, reads as unsigned.
   */
  signed: z.boolean().optional(),
});
export type ApprovalPolicy = z.infer<typeof approvalPolicy>;

/**
 * What `POST /environments` fills in. Only new environments get it: existing items keep what they
 * have, and one without `signed` stays unsigned (it was made when unsigned was the default), so no
 * environment's approvals change under its owner; the owner turns signing on with
 * `latchkey envs update ENV --signed-approvals`.
 */
export const defaultApprovalPolicy: ApprovalPolicy = {
  enabled: false,
  approverGroups: [],
  requiredApprovals: 1,
  preventSelfApproval: true,
  windowHours: 72,
  signed: true,
};

/** Environment variables handed to deploy scripts, as stored and shown; names as a shell accepts them. */
export const variables = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a shell variable name'), z.string().max(4096))
  .refine((v) => Object.keys(v).length <= 100, 'at most 100 variables');

/**
 * Variables as an owner sets them: only names a release's scripts may be given (script-variables.ts),
 * so no name that changes how programs load code is ever stored through the API.
 */
export const variablesInput = scriptVariables(z.string().max(4096)).refine((v) => Object.keys(v).length <= 100, 'at most 100 variables');

export const environment = z.object({
  environmentId,
  name: slugName,
  approval: approvalPolicy,
  variables,
  /** Whether targets send their scripts' output back in reports (README: it then leaves the machine). */
  reportScriptOutput: z.boolean(),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type EnvironmentView = z.infer<typeof environment>;
export const createEnvironmentInput = z.strictObject({
  name: slugName,
  approval: approvalPolicy.partial().optional(),
  variables: variablesInput.optional(),
  reportScriptOutput: z.boolean().optional(),
});
export const updateEnvironmentInput = z
  .strictObject({ approval: approvalPolicy.partial().optional(), variables: variablesInput.optional(), reportScriptOutput: z.boolean().optional() })
  .refine((v) => v.approval !== undefined || v.variables !== undefined || v.reportScriptOutput !== undefined, 'nothing to change');

export const app = z.object({ appId, name: slugName, secure: z.boolean(), createdAt: isoTime, updatedAt: isoTime });
export type AppView = z.infer<typeof app>;
export const createAppInput = z.strictObject({ name: slugName });
export const updateAppInput = z.strictObject({ secure: z.literal(true) });

export const auditEvent = z.object({
  seq: z.number().int(),
  at: isoTime,
  actor: z.object({ userId: z.string(), tokenId: z.string() }).nullable(),
  action: z.string(),
  target: z.object({ type: z.string(), id: z.string() }).optional(),
  outcome: z.enum(['succeeded', 'refused']),
  reason: z.string().optional(),
  prevHash: z.string(),
  hash: z.string(),
});
export type AuditEventView = z.infer<typeof auditEvent>;

export const auditVerification = z.object({
  valid: z.boolean(),
  checked: z.number().int(),
  firstBrokenSeq: z.number().int().optional(),
  problem: z.string().optional(),
});
