import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
// Only the signatures: the index would pull @hpke/core into every API function's bundle.
import { signWithLabel, verifyWithLabel } from '#shared/crypto/signatures.ts';
import { canonicalJson } from './canonical-json.ts';
import { accountId, environmentId, isoTime } from './common.ts';

/**
 * The signed statements that let agents trust each other without trusting the backend:
 *
 *   owner ── signs ──▶ EnrolmentStatement   (role, environments, expiry, and the public half of
 *                                            a one-time token key whose secret half only the
 *                                            owner and the enrolling agent ever hold)
 *   token key + agent key ── sign ──▶ AgentBinding (the agent's public keys, bound to that enrolment)
 *
 * A peer accepts an agent only if all three signatures verify under the owner key it pinned,
 * so a backend that invents an agent, or swaps an agent's keys, gets nothing wrapped to it.
 */

export const base64url = z.string().regex(/^[A-Za-z0-9_-]*$/, 'must be base64url');
export const publicKey32 = base64url.length(43, 'must be a 32-byte key in base64url');
export const signature64 = base64url.length(86, 'must be a 64-byte signature in base64url');

export const agentRole = z.enum(['keyserver', 'target']);

const LABELS = {
  enrolment: 'latchkey/enrolment/v1\0',
  binding: 'latchkey/agent-binding/v1\0',
  session: 'latchkey/agent-session/v1\0',
  message: 'latchkey/agent-message/v1\0',
  masterWrap: 'latchkey/master-wrap/v1\0',
} as const;

export const enrolmentStatement = z.strictObject({
  v: z.literal(1),
  accountId,
  enrolmentId: z.string().regex(/^enr_[0-9a-f]{32}$/),
  role: agentRole,
  environments: z.array(environmentId).max(50),
  expiresAt: isoTime,
  tokenPublicKey: publicKey32,
});
export type EnrolmentStatement = z.infer<typeof enrolmentStatement>;

export const agentBinding = z.strictObject({
  v: z.literal(1),
  accountId,
  enrolmentId: z.string().regex(/^enr_[0-9a-f]{32}$/),
  agentId: z.string().regex(/^agt_[0-9a-f]{32}$/),
  role: agentRole,
  encryptionKey: publicKey32,
  signingKey: publicKey32,
  enrolledAt: isoTime,
});
export type AgentBinding = z.infer<typeof agentBinding>;

/** Everything a peer needs to check an agent, as the backend stores and hands it out. */
export const agentProof = z.strictObject({
  statement: enrolmentStatement,
  ownerSignature: signature64,
  binding: agentBinding,
  tokenSignature: signature64,
  agentSignature: signature64,
});
export type AgentProof = z.infer<typeof agentProof>;

export const toB64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
export const fromB64 = (text: string) => Buffer.from(text, 'base64url');

const bytesOf = (value: unknown) => Buffer.from(canonicalJson(value), 'utf8');

/** An agent's id is derived from its signing key, so nobody can give two agents one id. */
export const agentIdFor = (signingKey: Uint8Array) => `agt_${createHash('sha256').update(signingKey).digest('hex').slice(0, 32)}`;

export const keyFingerprint = (publicKey: Uint8Array) => createHash('sha256').update(publicKey).digest('hex');

/**
 * What an agent prints after init and enrol, for its operator to read to the owner, and what the
 * owner compares before confirming the agent (`latchkey agents confirm`): SHA-256 over both of the
 * agent's public keys, so a backend can swap neither.
 */
export const agentFingerprint = (keys: { signingKey: Uint8Array; encryptionKey: Uint8Array }) =>
  createHash('sha256').update('latchkey/agent-fingerprint/v1\0').update(keys.signingKey).update(keys.encryptionKey).digest('hex');

/** A fingerprint as people type it: colons, spaces and case do not matter. */
export const normaliseFingerprint = (text: string) => text.replace(/[\s:]/g, '').toLowerCase();

export const signEnrolment = (ownerSeed: Uint8Array, statement: EnrolmentStatement) =>
  toB64(signWithLabel(ownerSeed, LABELS.enrolment, bytesOf(statement)));

export const signBinding = (seed: Uint8Array, binding: AgentBinding) => toB64(signWithLabel(seed, LABELS.binding, bytesOf(binding)));

export class UntrustedAgentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UntrustedAgentError';
  }
}

/**
 * Checks an agent's proof against the pinned owner key and returns what it proves. Every
 * failure is an UntrustedAgentError saying which check failed.
 */
export const verifyAgentProof = (ownerPublicKey: Uint8Array, proof: AgentProof, expected: { accountId: string }) => {
  const { statement, binding } = proof;
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new UntrustedAgentError(`Agent ${binding.agentId} is not trusted: ${what}`);
  };
  const verified = (publicKey: Uint8Array, label: string, body: unknown, signature: string, what: string) => {
    try {
      verifyWithLabel(publicKey, label, bytesOf(body), fromB64(signature), what);
      return true;
    } catch {
      return false;
    }
  };
  check(statement.accountId === expected.accountId && binding.accountId === expected.accountId, 'it belongs to another account');
  check(verified(ownerPublicKey, LABELS.enrolment, statement, proof.ownerSignature, 'enrolment'), 'its enrolment is not signed by the account owner');
  check(binding.enrolmentId === statement.enrolmentId && binding.role === statement.role, 'its binding does not match its enrolment');
  check(binding.enrolledAt <= statement.expiresAt, 'it enrolled after its enrolment expired');
  check(verified(fromB64(statement.tokenPublicKey), LABELS.binding, binding, proof.tokenSignature, 'binding'), 'its binding is not signed with the enrolment token');
  check(verified(fromB64(binding.signingKey), LABELS.binding, binding, proof.agentSignature, 'binding'), 'its binding is not signed with its own key');
  check(agentIdFor(fromB64(binding.signingKey)) === binding.agentId, 'its id does not match its signing key');
  return {
    agentId: binding.agentId,
    role: binding.role,
    environments: statement.environments,
    encryptionKey: fromB64(binding.encryptionKey),
    signingKey: fromB64(binding.signingKey),
  };
};

/** The session challenge: a fresh timestamp signed with the agent key proves the agent holds it. */
export const sessionChallengeBytes = (agentId: string, at: string) => bytesOf({ agentId, at, v: 1 });
export const signSessionChallenge = (seed: Uint8Array, agentId: string, at: string) =>
  toB64(signWithLabel(seed, LABELS.session, sessionChallengeBytes(agentId, at)));
export const verifySessionChallenge = (signingKey: Uint8Array, agentId: string, at: string, signature: string) => {
  try {
    verifyWithLabel(signingKey, LABELS.session, sessionChallengeBytes(agentId, at), fromB64(signature), 'session');
    return true;
  } catch {
    return false;
  }
};

/** Messages an agent puts on the shared reply queue are signed, so no agent can speak for another. */
export const signAgentMessage = (seed: Uint8Array, message: Record<string, unknown>) =>
  toB64(signWithLabel(seed, LABELS.message, bytesOf(message)));
export const verifyAgentMessage = (signingKey: Uint8Array, message: Record<string, unknown>, signature: string) => {
  try {
    verifyWithLabel(signingKey, LABELS.message, bytesOf(message), fromB64(signature), 'message');
    return true;
  } catch {
    return false;
  }
};

/**
 * Master key copies. HPKE base mode does not say who made a wrap: anyone holding a key server's
 * public key (the backend included) can wrap a key of its own choosing to it. So the key server
 * that creates or shares a master key signs each copy it makes, over the statement below, and a
 * key server opens a copy only if an owner-enrolled key server signed it (agent/handlers/master-copy.ts).
 * The commitment is one-way: it names the key without revealing it, so the receiver can check,
 * after opening, that it got the key the signer vouched for.
 */
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 digest in hex');
export const masterCommitmentHex = sha256Hex;

export const masterWrapStatement = z.strictObject({
  v: z.literal(1),
  accountId,
  version: z.number().int().min(1),
  recipientId: z.string().regex(/^agt_[0-9a-f]{32}$/),
  /** SHA-256 of the wrap's bytes (the HPKE envelope), not of its base64url text. */
  wrapSha256: sha256Hex,
  commitment: sha256Hex,
});
export type MasterWrapStatement = z.infer<typeof masterWrapStatement>;

const MASTER_COMMITMENT_LABEL = 'latchkey/agent/master-commitment/v1\0';
export const masterCommitment = (accountId: string, version: number, master: Uint8Array) =>
  createHash('sha256').update(MASTER_COMMITMENT_LABEL).update(accountId).update('\0').update(String(version)).update('\0').update(master).digest();

/** Whether `master` is the key `commitment` (hex) names, compared in constant time. */
export const commitsTo = (commitment: string, accountId: string, version: number, master: Uint8Array) => {
  const expected = Buffer.from(commitment, 'hex');
  const actual = masterCommitment(accountId, version, master);
  return expected.byteLength === actual.byteLength && timingSafeEqual(expected, actual);
};

export const masterWrapStatementOf = (copy: { accountId: string; version: number; recipientId: string; wrappedMaster: string; commitment: string }): MasterWrapStatement => ({
  v: 1,
  accountId: copy.accountId,
  version: copy.version,
  recipientId: copy.recipientId,
  wrapSha256: createHash('sha256').update(fromB64(copy.wrappedMaster)).digest('hex'),
  commitment: copy.commitment,
});

export const signMasterWrap = (seed: Uint8Array, statement: MasterWrapStatement) => toB64(signWithLabel(seed, LABELS.masterWrap, bytesOf(statement)));
export const verifyMasterWrap = (signingKey: Uint8Array, statement: MasterWrapStatement, signature: string) => {
  try {
    verifyWithLabel(signingKey, LABELS.masterWrap, bytesOf(masterWrapStatement.parse(statement)), fromB64(signature), 'master wrap');
    return true;
  } catch {
    return false;
  }
};

/** The enrolment token handed to the operator: the enrolment id and the token key's secret half. */
export const formatEnrolmentToken = (enrolmentId: string, tokenSeed: Uint8Array) => `lke_${enrolmentId}_${toB64(tokenSeed)}`;
export const parseEnrolmentToken = (token: string) => {
  const match = /^lke_(enr_[0-9a-f]{32})_([A-Za-z0-9_-]{43})$/.exec(token.trim());
  if (!match) return undefined;
  return { enrolmentId: match[1]!, tokenSeed: fromB64(match[2]!) };
};
