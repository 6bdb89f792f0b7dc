import { z } from 'zod';
import { signWithLabel, verifyWithLabel } from '#shared/crypto/signatures.ts';
import { canonicalJson } from './canonical-json.ts';
import { accountId, isoTime, userId } from './common.ts';
import { fromB64, keyFingerprint, publicKey32, signature64, toB64 } from './trust.ts';

/**
 * The owner's word for a person's release-signing key (docs/signing-keys.md). Targets check a
 * manifest under the pusher's key; the backend hands them that key, so on its own word a
 * compromised backend could name a key of its own and have a plain release of its choosing
 * installed. The owner key, which targets pinned at enrolment and the backend never holds,
 * signs this statement binding the key to its account and person; a target trusts a manifest
 * signer only with it.
 */

const LABEL = 'latchkey/signing-key/v1\0';

export const signingKeyStatement = z.strictObject({
  v: z.literal(1),
  accountId,
  userId,
  publicKey: publicKey32,
  /** SHA-256 of the key, hex: the key id a manifest names its signer by. */
  keyId: z.string().regex(/^[0-9a-f]{64}$/),
  issuedAt: isoTime,
});
export type SigningKeyStatement = z.infer<typeof signingKeyStatement>;

/** What the backend keeps with a person's key and forwards with every deploy request. */
export const vouchedSigningKey = z.strictObject({ statement: signingKeyStatement, ownerSignature: signature64 });
export type VouchedSigningKey = z.infer<typeof vouchedSigningKey>;

export const signingKeyStatementOf = (ids: { accountId: string; userId: string }, publicKey: string, issuedAt: string): SigningKeyStatement => ({
  v: 1,
  accountId: ids.accountId,
  userId: ids.userId,
  publicKey,
  keyId: keyFingerprint(fromB64(publicKey)),
  issuedAt,
});

/** The signed bytes (after the label): the statement's canonical JSON, UTF-8. */
export const signingKeyStatementBytes = (statement: SigningKeyStatement) => Buffer.from(canonicalJson(signingKeyStatement.parse(statement)), 'utf8');

export const vouchForSigningKey = (ownerSeed: Uint8Array, statement: SigningKeyStatement): VouchedSigningKey => ({
  statement,
  ownerSignature: toB64(signWithLabel(ownerSeed, LABEL, signingKeyStatementBytes(statement))),
});

/**
 * Why `vouch` does not vouch for `publicKey` in `accountId` under the owner key, or undefined
 * when it does. The key id is checked too: a statement is only as good as every field in it.
 */
export const signingKeyVouchProblem = (ownerPublicKey: Uint8Array, vouch: VouchedSigningKey, expected: { accountId: string; publicKey: string; userId?: string }) => {
  const { statement } = vouch;
  if (statement.accountId !== expected.accountId) return 'it vouches for a key of another account';
  if (expected.userId && statement.userId !== expected.userId) return 'it vouches for the key of another person';
  if (statement.publicKey !== expected.publicKey) return 'it vouches for another key';
  if (statement.keyId !== keyFingerprint(fromB64(statement.publicKey))) return 'its key id does not match its key';
  try {
    verifyWithLabel(ownerPublicKey, LABEL, signingKeyStatementBytes(statement), fromB64(vouch.ownerSignature), 'signing key statement');
    return undefined;
  } catch {
    return 'it is not signed by the account owner key';
  }
};
