import { generateRegistrationOptions, verifyRegistrationResponse } from '@simplewebauthn/server';
import { decodeCredentialPublicKey } from '@simplewebauthn/server/helpers';
import type { z } from 'zod';
import type { registrationResponse } from '#shared/protocol/passkey-registration.ts';
import { passkeyCredential, PASSKEY_ALGORITHMS, type PasskeyCredential } from '#shared/protocol/passkeys.ts';
import { toB64 } from '#shared/protocol/trust.ts';
import { ValidationError } from '../errors.ts';

// The WebAuthn side of a registration, through @simplewebauthn/server: its options and its
// verification, with our rules — user verification required, no attestation (the owner's
// fingerprint comparison, not a vendor certificate, is what makes a credential trusted), and
// only the algorithms key servers and targets verify (Ed25519 first, then ES256).

export type RegistrationResponse = z.infer<typeof registrationResponse>;
export type WebOrigin = { origin: string; rpId: string };

/** How long the browser waits for the authenticator. */
const TIMEOUT_MS = 5 * 60_000;
const ALGORITHMS = [-8, -7];
/** COSE_Key label of the algorithm (RFC 9052). */
const COSE_ALG = 3;

export const registrationOptionsFor = (where: WebOrigin, person: { userId: string; email: string; name: string }, exclude: readonly { credentialId: string }[]) =>
  generateRegistrationOptions({
    rpName: 'Latchkey',
    rpID: where.rpId,
    userName: person.email,
    // The user handle names the person, not the account: no secret, stable across their passkeys.
    userID: new TextEncoder().encode(person.userId),
    userDisplayName: person.name,
    timeout: TIMEOUT_MS,
    attestationType: 'none',
    excludeCredentials: exclude.map((credential) => ({ id: credential.credentialId })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
    supportedAlgorithmIDs: ALGORITHMS,
  });

/**
 * The credential a registration response proves, as the owner would vouch for it; a
 * ValidationError (400) saying why when it does not verify against `challenge`, `where`, user
 * verification and our algorithms.
 */
export const verifiedCredential = async (response: RegistrationResponse, challenge: string, where: WebOrigin, label: string | undefined): Promise<PasskeyCredential> => {
  let verification;
  try {
    verification = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: where.origin,
      expectedRPID: where.rpId,
      expectedType: 'webauthn.create',
      requireUserPresence: true,
      requireUserVerification: true,
      supportedAlgorithmIDs: ALGORITHMS,
    });
  } catch (error) {
    throw new ValidationError(`The passkey registration does not verify: ${(error as Error).message}`, 'response');
  }
  if (!verification.verified) throw new ValidationError('The passkey registration does not verify', 'response');
  const { credential } = verification.registrationInfo;
  const algorithm = decodeCredentialPublicKey(credential.publicKey).get(COSE_ALG);
  if (!PASSKEY_ALGORITHMS.includes(algorithm as never)) throw new ValidationError(`The passkey uses COSE algorithm ${algorithm}; only Ed25519 (-8) and ES256 (-7) are verified`, 'response');
  const parsed = passkeyCredential.safeParse({
    credentialId: credential.id,
    publicKey: toB64(credential.publicKey),
    algorithm,
    origin: where.origin,
    rpId: where.rpId,
    ...(label ? { label } : {}),
  });
  if (!parsed.success) throw new ValidationError(`The passkey cannot be recorded: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`, 'response');
  return parsed.data;
};
