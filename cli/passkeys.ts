import { passkeyCredential, passkeyFingerprint, PASSKEY_ALGORITHMS, webOriginOf, type PasskeyCredential } from '#shared/protocol/passkeys.ts';
import type { PersonStatement } from '#shared/protocol/statements.ts';
import { fromB64, normaliseFingerprint } from '#shared/protocol/trust.ts';
import type { ResponseOf } from './api-client.ts';
import { RefusedError, UsageError } from './errors.ts';

/**
 * What the owner's passkey commands check before signing (docs/trust.md, "Registering a passkey"):
 * every fingerprint is computed here, from the credential id and public key the API hands over,
 * never taken from the API; the credential signed is rebuilt from those two alone, with the
 * algorithm read from the key itself and the origin of the endpoint this CLI talks to. A backend
 * that swapped a key shows a fingerprint the person did not read out, and nothing is signed.
 */

export type RegisteredPasskey = ResponseOf<'GET /users/{id}/passkeys'>['items'][number];

/** COSE_Key label of the algorithm (RFC 9052). */
const COSE_ALG = 3;

/** A fingerprint as typed: hex, with spaces and colons ignored; 64 digits or a usage error. */
export const fingerprintOption = (text: string): string => {
  const fingerprint = normaliseFingerprint(text);
  if (!/^[0-9a-f]{64}$/.test(fingerprint)) throw new UsageError('--fingerprint must be the 64 hex digits the page showed (spaces are ignored)', { field: 'fingerprint' });
  return fingerprint;
};

/** The fingerprint of what the API says was registered, computed here; undefined for junk (never matched). */
export const localFingerprint = (credential: { credentialId: string; publicKey: string }): string | undefined => {
  try {
    return passkeyFingerprint(credential);
  } catch {
    return undefined;
  }
};

/**
 * The algorithm the COSE key itself names, if it is one agents verify. The helpers are imported
 * here, not at the top: their index loads the whole attestation stack (X.509, ASN.1), which would
 * cost every `latchkey` start ~60 ms for one command that needs a CBOR map (bench/cli-startup.ts).
 */
const algorithmOf = async (publicKey: string): Promise<PasskeyCredential['algorithm'] | undefined> => {
  const { decodeCredentialPublicKey } = await import('@simplewebauthn/server/helpers');
  try {
    const algorithm = decodeCredentialPublicKey(fromB64(publicKey)).get(COSE_ALG);
    return PASSKEY_ALGORITHMS.find((known) => known === algorithm);
  } catch {
    return undefined;
  }
};

/**
 * The credential to vouch for: the one registered for the person whose fingerprint, computed here,
 * is the one the person read out; rebuilt from its id and key, for this CLI's API origin.
 */
export const credentialToVouch = async (registered: readonly RegisteredPasskey[], fingerprint: string, endpoint: string, personName: string): Promise<PasskeyCredential> => {
  const match = registered.find((credential) => localFingerprint(credential) === fingerprint);
  if (!match) {
    throw new RefusedError(`No passkey registered for ${personName} has the fingerprint ${fingerprint}: nothing was signed`, {
      hint: 'Compare it with the person again (by phone or in person). If it is what their page showed, the backend is not showing the key they registered: report it.',
    });
  }
  const where = webOriginOf(endpoint);
  if (match.origin !== where.origin || match.rpId !== where.rpId) {
    throw new RefusedError(`That passkey was registered for ${match.origin} (RP ID ${match.rpId}), not for this API's pages at ${where.origin} (RP ID ${where.rpId}): nothing was signed`);
  }
  const algorithm = await algorithmOf(match.publicKey);
  if (algorithm === undefined) throw new RefusedError('That passkey’s public key is not an Ed25519 or ES256 COSE key: nothing was signed');
  const credential = passkeyCredential.safeParse({
    credentialId: match.credentialId,
    publicKey: match.publicKey,
    algorithm,
    origin: where.origin,
    rpId: where.rpId,
    ...(match.label ? { label: match.label } : {}),
  });
  if (!credential.success) throw new RefusedError(`That passkey cannot be vouched for: ${credential.error.issues[0]?.message ?? 'malformed'}; nothing was signed`);
  return credential.data;
};

/** The passkeys a person statement names with `credential` added (replacing one of the same id); at most 10. */
export const withPasskey = (passkeys: readonly PasskeyCredential[] | undefined, credential: PasskeyCredential): PasskeyCredential[] => {
  const next = [...(passkeys ?? []).filter((known) => known.credentialId !== credential.credentialId), credential];
  if (next.length > 10) throw new RefusedError('A person statement names at most 10 passkeys: withdraw one first (`latchkey users withdraw-passkey`)');
  return next;
};

/** The passkeys a person statement names without the one of `fingerprint`; refuses when it names none such. */
export const withoutPasskey = (statement: PersonStatement | undefined, fingerprint: string, personName: string): { kept: PasskeyCredential[]; withdrawn: PasskeyCredential } => {
  const withdrawn = statement?.passkeys?.find((known) => localFingerprint(known) === fingerprint);
  if (!withdrawn) throw new RefusedError(`${personName}'s person statement vouches for no passkey with the fingerprint ${fingerprint}: nothing was signed`, { hint: `List them with \`latchkey users passkeys\`.` });
  return { kept: statement!.passkeys!.filter((known) => known !== withdrawn), withdrawn };
};

export type PasskeyRow = {
  fingerprint: string;
  label?: string | undefined;
  algorithm: number;
  origin: string;
  registeredAt?: string | undefined;
  /** Whether the owner's current person statement names it; undefined when no statement could be checked. */
  vouched: boolean | undefined;
  /** Whether the backend lists it as registered (a vouched one it no longer lists still counts). */
  registered: boolean;
  credentialId: string;
};

/** The rows of `users passkeys`: what the API lists, and what the verified statement vouches for. */
export const passkeyRows = (registered: readonly RegisteredPasskey[], statement: PersonStatement | undefined, checked: boolean): PasskeyRow[] => {
  const vouched = new Set((statement?.passkeys ?? []).map(localFingerprint));
  const rows: PasskeyRow[] = registered.map((credential) => {
    const fingerprint = localFingerprint(credential) ?? '(not a valid key)';
    return {
      fingerprint,
      label: credential.label,
      algorithm: credential.algorithm,
      origin: credential.origin,
      registeredAt: credential.registeredAt,
      vouched: checked ? vouched.has(fingerprint) : undefined,
      registered: true,
      credentialId: credential.credentialId,
    };
  });
  const listed = new Set(rows.map((row) => row.fingerprint));
  for (const credential of statement?.passkeys ?? []) {
    const fingerprint = localFingerprint(credential)!;
    if (!listed.has(fingerprint)) rows.push({ fingerprint, label: credential.label, algorithm: credential.algorithm, origin: credential.origin, vouched: true, registered: false, credentialId: credential.credentialId });
  }
  return rows;
};
