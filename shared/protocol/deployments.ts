import { z } from 'zod';
import { appId, environmentId, idOf, isoTime, pageQuery } from './common.ts';
import { approvalStatement, passkeyApproval, signedApproval, signedIntent } from './deployment-evidence.ts';
import { signedGrantReceipt, signedInstallReceipt } from './receipts.ts';
import { releaseId, sha256Hex } from './releases.ts';

export const deploymentId = idOf('dep');

export const createDeploymentInput = z.strictObject({
  appId,
  releaseId,
  environmentId,
  /** The deployer's signed intent (docs/trust.md): key servers and targets act only on one. Its deployment id becomes the deployment's. */
  intent: signedIntent.optional(),
});

export const approveInput = z.strictObject({
  /** true = Approve and Deploy: start as soon as the required approvals are in. */
  deploy: z.boolean().default(false),
  comment: z.string().trim().max(1000).optional(),
  /** The approver's signed decision on the deployment's intent: required where the environment requires signed approvals. */
  approval: signedApproval.optional(),
  /** Or the same decision made with a passkey the owner vouched for (the approval page). */
  passkey: passkeyApproval.optional(),
});

export const declineInput = z.strictObject({
  message: z.string().trim().min(1, 'a decline needs a message').max(1000),
  approval: signedApproval.optional(),
  passkey: passkeyApproval.optional(),
});

export const emptyBody = z.strictObject({}).optional();

export const listDeploymentsQuery = pageQuery.extend({ environmentId: environmentId.optional() });

const state = z.enum(['PendingApproval', 'Approved', 'InProgress', 'Succeeded', 'Failed', 'Declined', 'Canceled', 'Expired']);

export const deployment = z.object({
  deploymentId,
  appId,
  appName: z.string(),
  releaseId,
  releaseVersion: z.string(),
  releaseDigest: sha256Hex,
  encrypted: z.boolean(),
  environmentId,
  environmentName: z.string(),
  deployerId: z.string(),
  state,
  requiredApprovals: z.number().int(),
  votes: z.array(z.object({ userId: z.string(), at: isoTime, deploy: z.boolean(), comment: z.string().optional(), approval: signedApproval.optional(), passkey: passkeyApproval.optional() })),
  /** The deployer's signed intent, for approvers to check and sign. */
  intent: signedIntent.optional(),
  /** SHA-256 of the intent (docs/trust.md), as emails and the approval page show it. */
  intentHash: z.string().optional(),
  declined: z.object({ userId: z.string(), at: isoTime, message: z.string(), approval: signedApproval.optional(), passkey: passkeyApproval.optional() }).optional(),
  canceled: z.object({ userId: z.string(), at: isoTime }).optional(),
  outcome: z.object({ at: isoTime, reason: z.string().optional() }).optional(),
  /** How the approval mail went: whom it could not reach, and why (they can still act through the CLI). */
  approvalMail: z.object({ at: isoTime, sent: z.number().int(), failed: z.array(z.object({ userId: z.string(), reason: z.string() })) }).optional(),
  createdAt: isoTime,
  updatedAt: isoTime,
  expiresAt: isoTime,
  history: z.array(z.object({ at: isoTime, from: state.nullable(), to: state, by: z.string() })),
  /**
   * A secure deployment's grant: the key server that issued it and its signed receipt, as it sent
   * it (the backend does not vouch for it; `latchkey status` verifies it under the key server's key).
   */
  grant: z.object({ agentId: z.string(), receipt: signedGrantReceipt.optional() }).optional(),
  /** Once the deploy step has run: each target and its report (the tail of its scripts' output, or why it refused). */
  targets: z
    .array(
      z.object({
        agentId: z.string(),
        outcome: z.enum(['pending', 'succeeded', 'failed']),
        at: isoTime.optional(),
        current: z.string().optional(),
        output: z.string().optional(),
        code: z.string().optional(),
        message: z.string().optional(),
        /** The target's signed receipt for what it installed, as it sent it (verified by `latchkey status`). */
        receipt: signedInstallReceipt.optional(),
      }),
    )
    .optional(),
});

/** The secret in an approval email link: 256 random bits. */
export const approvalLinkSecret = z.string().regex(/^lka_[A-Za-z0-9_-]{43}$/, 'must be an approval link');

/** The approval page's form (application/x-www-form-urlencoded). */
export const approvalForm = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('approve'), message: z.string().max(1000).optional() }),
  z.strictObject({ action: z.literal('approve-and-deploy'), message: z.string().max(1000).optional() }),
  z.strictObject({ action: z.literal('decline'), message: z.string().trim().min(1, 'a decline needs a message').max(1000) }),
]);

/** The page's script asking what its passkey must sign for a decision (POST /approvals/{token}/challenge answers it). */
export const passkeyChallengeOutput = z.object({
  approval: approvalStatement,
  /** PublicKeyCredentialRequestOptionsJSON: the challenge is passkeyChallenge(approval). */
  options: z.object({
    challenge: z.string(),
    rpId: z.string(),
    allowCredentials: z.array(z.object({ id: z.string(), type: z.literal('public-key') })),
    userVerification: z.literal('required'),
    timeout: z.number().int(),
  }),
});

/** The page's decision made with a passkey (application/json): the form's fields and the assertion over them. */
export const passkeyDecisionInput = z.strictObject({
  action: z.enum(['approve', 'approve-and-deploy', 'decline']),
  message: z.string().max(1000).optional(),
  passkey: passkeyApproval,
});

/** The scripts our pages load from our own origin (web/scripts/). */
export const webAssetName = z.string().regex(/^[a-z0-9-]{1,64}\.js$/, 'must be the name of one of our scripts');
