import { createHash } from 'node:crypto';
import { z } from 'zod';
import { base64url, fromB64 } from './trust.ts';

/**
 * Passkeys (WebAuthn) as the owner vouches for them (docs/trust.md, "Approving with a passkey"):
 * an approver registers one through a single-use link, reads its fingerprint to the owner over a
 * channel the backend does not control, and the owner names it in the approver's person
 * statement. Key servers and targets then accept an assertion by that credential, whose challenge
 * commits to a deployment intent and a decision, as the approver's signature.
 */

/** COSE algorithm identifiers accepted: ES256 (P-256, most authenticators) and EdDSA (Ed25519). */
export const PASSKEY_ALGORITHMS = [-7, -8] as const;

export const passkeyCredential = z.strictObject({
  /** The credential id as the authenticator made it (base64url). */
  credentialId: base64url.min(16).max(1400),
  /** The credential's public key as a COSE_Key (base64url), as the authenticator returned it. */
  publicKey: base64url.min(40).max(2000),
  algorithm: z.union([z.literal(-7), z.literal(-8)]),
  /** Where assertions must come from: the account's web origin and its RP ID, pinned by the owner. */
  origin: z.string().regex(/^https?:\/\/[a-z0-9.-]+(:[0-9]{1,5})?$/, 'must be an origin (scheme://host[:port])'),
  rpId: z.string().regex(/^[a-z0-9.-]{1,253}$/, 'must be a domain'),
  /** What the approver called it when registering ("laptop", "YubiKey"). */
  label: z.string().trim().min(1).max(64).regex(/^[^\p{Cc}\p{Cf}]+$/u).optional(),
});
export type PasskeyCredential = z.infer<typeof passkeyCredential>;

/**
 * What the approver reads out and the owner compares before vouching: SHA-256 over the credential
 * id and the public key, so a backend can swap neither (as with agent fingerprints).
 */
export const passkeyFingerprint = (credential: Pick<PasskeyCredential, 'credentialId' | 'publicKey'>) => {
  const id = fromB64(credential.credentialId);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(id.byteLength);
  return createHash('sha256').update('latchkey/passkey-fingerprint/v1\0').update(length).update(id).update(fromB64(credential.publicKey)).digest('hex');
};

/** A fingerprint as people read it out: groups of four hex digits. */
export const groupedFingerprint = (hex: string) => hex.match(/.{1,4}/g)!.join(' ');

/**
 * The web origin and RP ID an API endpoint's pages are served from. WebAuthn accepts no IP
 * address as an RP ID, so a loopback API (the local stack) serves its pages as `localhost`.
 */
export const webOriginOf = (endpoint: string): { origin: string; rpId: string } => {
  const url = new URL(endpoint);
  if (url.hostname === '127.0.0.1' || url.hostname === '[::1]') url.hostname = 'localhost';
  return { origin: url.origin, rpId: url.hostname };
};

/**
 * An assertion as `@simplewebauthn/browser` returns it (AuthenticationResponseJSON): kept whole,
 * because key servers and targets verify exactly these bytes.
 */
export const passkeyAssertion = z.strictObject({
  id: base64url.min(16).max(1400),
  rawId: base64url.min(16).max(1400),
  type: z.literal('public-key'),
  response: z.strictObject({
    clientDataJSON: base64url.max(4096),
    authenticatorData: base64url.min(50).max(4096),
    signature: base64url.min(40).max(1024),
    userHandle: base64url.max(128).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
});
export type PasskeyAssertion = z.infer<typeof passkeyAssertion>;
