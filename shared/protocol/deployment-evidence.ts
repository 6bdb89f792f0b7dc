import { createHash } from 'node:crypto';
import { z } from 'zod';
import { signWithLabel, verifyWithLabel } from '#shared/crypto/signatures.ts';
import { canonicalJson } from './canonical-json.ts';
import { accountId, appId, environmentId, isoTime, userId } from './common.ts';
import { passkeyAssertion } from './passkeys.ts';
import { signedStatementOf } from './statements.ts';
import { fromB64, signature64, toB64 } from './trust.ts';

/**
 * What a deployment is, in the words of the people who decided it (DESIGN §10, docs/trust.md):
 *
 *   deployer ── signs ──▶ DeploymentIntent   (this release, by its manifest, to this environment,
 *                                            under this version of its statement, until then)
 *   approver ── signs ──▶ Approval           (the intent's hash and the decision)
 *
 * Key servers grant, and targets install, only when the intent, the approvals and the owner's
 * statements they are checked against are complete (shared/domain/evidence/check-evidence.ts).
 */

const LABELS = {
  intent: 'latchkey/deployment-intent/v1\0',
  approval: 'latchkey/approval/v1\0',
  passkeyApproval: 'latchkey/passkey-approval/v1\0',
} as const;

export const deploymentIdSchema = z.string().regex(/^dep_[0-9a-f]{32}$/, 'must be a deployment id (dep_ + 32 hex)');
const releaseIdSchema = z.string().regex(/^rel_[0-9a-f]{32}$/);
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

export const deploymentIntent = z.strictObject({
  v: z.literal(1),
  accountId,
  /** Chosen by the deployer's CLI: the backend cannot mint a deployment in the deployer's name. */
  deploymentId: deploymentIdSchema,
  appId,
  releaseId: releaseIdSchema,
  /** SHA-256 of the signed release manifest: the bytes the pusher signed. */
  manifestHash: sha256Hex,
  environmentId,
  /** The environment statement version the deployer saw. */
  environmentVersion: z.number().int().min(1),
  deployerId: userId,
  createdAt: isoTime,
  /** No grant and no install after this: a stale intent cannot be replayed to roll back later. */
  expiresAt: isoTime,
});
export type DeploymentIntent = z.infer<typeof deploymentIntent>;
export const signedIntent = z.strictObject({ intent: deploymentIntent, signature: signature64 });
export type SignedIntent = z.infer<typeof signedIntent>;

const intentBytes = (intent: DeploymentIntent) => Buffer.from(canonicalJson(deploymentIntent.parse(intent)), 'utf8');

/** SHA-256 of label ‖ intent bytes, hex: what approvals sign, receipts name and emails show. */
export const intentHash = (intent: DeploymentIntent) => createHash('sha256').update(LABELS.intent, 'latin1').update(intentBytes(intent)).digest('hex');

export const signIntent = (deployerSeed: Uint8Array, intent: DeploymentIntent): SignedIntent => ({ intent, signature: toB64(signWithLabel(deployerSeed, LABELS.intent, intentBytes(intent))) });

export const intentSignatureVerifies = (deployerKey: Uint8Array, signed: SignedIntent) => {
  try {
    verifyWithLabel(deployerKey, LABELS.intent, intentBytes(signed.intent), fromB64(signed.signature), 'deployment intent');
    return true;
  } catch {
    return false;
  }
};

export const decision = z.enum(['approve', 'approve-and-deploy', 'decline']);
export type Decision = z.infer<typeof decision>;

export const approvalStatement = z.strictObject({
  v: z.literal(1),
  accountId,
  deploymentId: deploymentIdSchema,
  intentHash: sha256Hex,
  decision,
  approverId: userId,
  at: isoTime,
  /** A decline says why (the brief); shown to everyone. */
  message: z.string().max(2000).optional(),
});
export type ApprovalStatement = z.infer<typeof approvalStatement>;
export const signedApproval = z.strictObject({ approval: approvalStatement, signature: signature64 });
export type SignedApproval = z.infer<typeof signedApproval>;

const approvalBytes = (approval: ApprovalStatement) => Buffer.from(canonicalJson(approvalStatement.parse(approval)), 'utf8');

export const signApproval = (approverSeed: Uint8Array, approval: ApprovalStatement): SignedApproval => ({
  approval,
  signature: toB64(signWithLabel(approverSeed, LABELS.approval, approvalBytes(approval))),
});

export const approvalSignatureVerifies = (approverKey: Uint8Array, signed: SignedApproval) => {
  try {
    verifyWithLabel(approverKey, LABELS.approval, approvalBytes(signed.approval), fromB64(signed.signature), 'approval');
    return true;
  } catch {
    return false;
  }
};

/**
 * The WebAuthn challenge of a decision made with a passkey: SHA-256 of label ‖ the approval
 * statement's bytes, base64url. The authenticator signs over it (in the client data), so the
 * assertion is the approver's signature over the intent's hash and the decision.
 */
export const passkeyChallenge = (approval: ApprovalStatement) =>
  createHash('sha256').update(LABELS.passkeyApproval, 'latin1').update(approvalBytes(approval)).digest('base64url');

/** An approval made with a passkey: the statement and the assertion whose challenge commits to it. */
export const passkeyApproval = z.strictObject({ approval: approvalStatement, assertion: passkeyAssertion });
export type PasskeyApproval = z.infer<typeof passkeyApproval>;

/** An approval recorded by the backend alone (an environment whose statement does not require signed approvals). */
export const backendApproval = z.strictObject({ approverId: userId, decision, at: isoTime });

/**
 * Everything an agent checks before it grants or installs: the owner's statements for the
 * application, the environment and the people involved (deployer, approvers, pusher), the
 * deployer's intent, and the approvals. Sent with every grant and deploy request.
 */
export const deploymentEvidence = z.strictObject({
  application: signedStatementOf('application'),
  environment: signedStatementOf('environment'),
  people: z.array(signedStatementOf('person')).max(50),
  intent: signedIntent,
  approvals: z.array(signedApproval).max(50),
  /** Approvals made with a passkey the owner vouched for (approval pages). */
  passkeyApprovals: z.array(passkeyApproval).max(50).optional(),
  /** Only for an environment whose statement does not require signed approvals: the backend's word, recorded as such. */
  backendApprovals: z.array(backendApproval).max(50).optional(),
});
export type DeploymentEvidence = z.infer<typeof deploymentEvidence>;
