import { z } from 'zod';
import { isoTime, userId } from './common.ts';
import { passkeyCredential } from './passkeys.ts';
import { base64url } from './trust.ts';

/**
 * Registering a passkey (docs/trust.md, "Registering a passkey"): the owner asks for a link
 * bound to one person, the person's browser registers a credential through it, and the page shows
 * the credential's fingerprint, which the person reads to the owner before the owner vouches for
 * it. The backend's record of a registered credential is only a proposal: agents go by the
 * owner's person statement.
 */

/** The secret in a registration link: 256 random bits, with a prefix of its own (not an approval link). */
export const passkeyLinkSecret = z.string().regex(/^lkp_[A-Za-z0-9_-]{43}$/, 'must be a passkey registration link');

/** What the owner gets back: the link (emailed to the person too) and when it stops working. */
export const passkeyLink = z.object({ url: z.url(), expiresAt: isoTime, emailed: z.boolean() });

/**
 * The registration options for `@simplewebauthn/browser`'s `startRegistration` (the library's
 * PublicKeyCredentialCreationOptionsJSON; only the fields the page relies on are named).
 */
export const registrationOptions = z.looseObject({
  challenge: base64url,
  rp: z.looseObject({ name: z.string(), id: z.string() }),
  user: z.looseObject({ id: base64url, name: z.string(), displayName: z.string() }),
});

/**
 * A registration as `startRegistration` returns it (RegistrationResponseJSON). Bounded at the
 * edge; what it means is `verifyRegistrationResponse`'s to decide, not ours to parse.
 */
export const registrationResponse = z.strictObject({
  id: base64url.min(16).max(1400),
  rawId: base64url.min(16).max(1400),
  type: z.literal('public-key'),
  response: z.strictObject({
    clientDataJSON: base64url.min(1).max(4096),
    attestationObject: base64url.min(1).max(16_384),
    authenticatorData: base64url.max(8192).optional(),
    transports: z.array(z.enum(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'])).max(10).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: base64url.max(4096).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
});

export const registerPasskeyInput = z.strictObject({
  response: registrationResponse,
  /** What the person calls this passkey ("laptop", "YubiKey"): shown to the owner and kept in the statement. */
  label: passkeyCredential.shape.label,
});

/** What the page shows once registered: the fingerprint to read to the owner (hex; the page groups it). */
export const registeredFingerprint = z.object({ fingerprint: z.string().regex(/^[0-9a-f]{64}$/) });

/** A credential the backend holds for a person, as registered (not yet, or no longer, vouched for). */
export const registeredPasskey = passkeyCredential.extend({ userId, registeredAt: isoTime });
export type RegisteredPasskeyView = z.infer<typeof registeredPasskey>;

export const registeredPasskeys = z.object({ items: z.array(registeredPasskey) });
