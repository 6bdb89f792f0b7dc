import { z } from 'zod';
import { signWithLabel, verifyWithLabel } from '#shared/crypto/signatures.ts';
import { canonicalJson } from './canonical-json.ts';
import { accountId, environmentId, idOf, isoTime } from './common.ts';
import { fromB64, signature64, toB64 } from './trust.ts';

/**
 * Receipts (DESIGN §10, docs/trust.md "Audit and receipts"): what an agent did, signed with its
 * own Ed25519 agent key, so that whoever reads a deployment can check it without taking the
 * backend's word for it. The backend only carries them: from the agent's reply to the deployment
 * item, and from there to `GET /deployments/{id}`, where `latchkey status` verifies each one under
 * the key of the agent's owner-signed proof.
 *
 *   key server ── signs ──▶ grant issued       (deployment, release, digest, targets, expiry)
 *   target     ── signs ──▶ release installed  (deployment, release, digest verified, `current`)
 *
 * Bytes signed: label ‖ canonical JSON of the receipt (UTF-8); the label names the kind, so a
 * receipt of one kind never verifies as the other, nor as any other signed object.
 */

const LABELS = {
  'grant-issued': 'latchkey/receipt/grant-issued/v1\0',
  'release-installed': 'latchkey/receipt/release-installed/v1\0',
} as const;
export type ReceiptKind = keyof typeof LABELS;

// Not imported from agent-messages.ts or deploy-messages.ts: those import this module.
const agentId = idOf('agt');
const deploymentId = idOf('dep');
const releaseId = idOf('rel');
const hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 digest in hex');

const base = {
  v: z.literal(1),
  accountId,
  /** The agent that signs: its proof names the key the signature verifies under. */
  agentId,
  deploymentId,
  releaseId,
  environmentId,
  /**
   * The hash of the deployment's evidence the agent checked (docs/trust.md, "A deployment's
   * evidence"); absent until agents check evidence.
   */
  evidenceHash: hex32.optional(),
  /**
   * How the approvals in that evidence stood: signed by the approvers, the backend's word (an
   * environment whose owner statement does not require signed approvals), or none needed.
   */
  approvals: z.enum(['signed', 'backend', 'none']).optional(),
};

export const grantIssuedReceipt = z.strictObject({
  ...base,
  kind: z.literal('grant-issued'),
  /** The release digest in the pusher's signed manifest the key server verified (hex). */
  digest: hex32,
  /** The targets the key server wrapped the deployment key to and signed a grant for. */
  targets: z.array(agentId).min(1).max(100),
  /** When the grants stop being good. */
  expiresAt: isoTime,
  issuedAt: isoTime,
});
export type GrantIssuedReceipt = z.infer<typeof grantIssuedReceipt>;

export const releaseInstalledReceipt = z.strictObject({
  ...base,
  kind: z.literal('release-installed'),
  /** The release digest the target verified the downloaded (secure: decrypted) file against (hex). */
  digest: hex32,
  /** The release directory `current` now points to. */
  current: z.string().min(1).max(200),
  installedAt: isoTime,
});
export type ReleaseInstalledReceipt = z.infer<typeof releaseInstalledReceipt>;

export const receipt = z.discriminatedUnion('kind', [grantIssuedReceipt, releaseInstalledReceipt]);
export type Receipt = z.infer<typeof receipt>;

/** A receipt as it travels and is kept: the receipt and the agent's signature over it. */
export const signedGrantReceipt = z.strictObject({ receipt: grantIssuedReceipt, signature: signature64 });
export const signedInstallReceipt = z.strictObject({ receipt: releaseInstalledReceipt, signature: signature64 });
export type SignedReceipt<R extends Receipt = Receipt> = { receipt: R; signature: string };

export const receiptBytes = (r: Receipt): Buffer => Buffer.from(canonicalJson(receipt.parse(r)), 'utf8');

export const signReceipt = <R extends Receipt>(agentSeed: Uint8Array, r: R): SignedReceipt<R> => ({
  receipt: r,
  signature: toB64(signWithLabel(agentSeed, LABELS[r.kind], receiptBytes(r))),
});

/**
 * Why `signed` is not a `kind` receipt signed under `agentKey`, or undefined when it is. Takes
 * anything (what the backend handed over) and checks its shape first.
 */
export const receiptProblem = <K extends ReceiptKind>(agentKey: Uint8Array, signed: unknown, kind: K): string | undefined => {
  const parsed = (kind === 'grant-issued' ? signedGrantReceipt : signedInstallReceipt).safeParse(signed);
  if (!parsed.success) return `it is malformed (${parsed.error.issues[0]?.path.join('.') || 'receipt'}: ${parsed.error.issues[0]?.message ?? 'invalid'})`;
  try {
    verifyWithLabel(agentKey, LABELS[kind], receiptBytes(parsed.data.receipt), fromB64(parsed.data.signature), `${kind} receipt`);
    return undefined;
  } catch {
    return 'its signature does not verify under the agent’s key';
  }
};
