import { createHash } from 'node:crypto';
import { passkeyChallenge, type PasskeyApproval } from '#shared/protocol/deployment-evidence.ts';
import type { PersonStatement } from '#shared/protocol/statements.ts';
import { fromB64 } from '#shared/protocol/trust.ts';

/**
 * One approval made with a passkey, checked as key servers and targets check it (docs/trust.md):
 *
 *   - the credential is one the owner vouched for in the approver's (current, verified) person statement;
 *   - the client data's type is `webauthn.get`, its origin the one pinned with the credential, its
 *     challenge the one this approval statement commits to (intent hash and decision);
 *   - the authenticator data's RP ID hash is the pinned RP ID's; user presence and user
 *     verification are both flagged;
 *   - the signature verifies under the vouched public key (ES256 or Ed25519);
 *   - the sign counter, where the authenticator keeps one, is above the highest seen for the
 *     credential — unless this very assertion was seen before (a redelivered request checks the
 *     same approval again).
 *
 * The WebAuthn parsing and signature checks are `@simplewebauthn/server`'s; this adds what it
 * cannot know: which credentials the owner vouched for, and what the challenge must be.
 */

/** Where an agent keeps what it saw of each credential: in its statement pins (numbers by key). */
export const counterPin = (credentialId: string) => `passkey:${credentialId}`;
export const assertionPin = (credentialId: string, signature: string) =>
  `passkey-assertion:${credentialId}:${createHash('sha256').update(fromB64(signature)).digest('hex').slice(0, 32)}`;

export type PasskeyCheck = { ok: true; counter: number; pins: Record<string, number> } | { ok: false; why: string };

export const checkPasskeyApproval = async (item: PasskeyApproval, approver: PersonStatement, pins: Readonly<Record<string, number>>): Promise<PasskeyCheck> => {
  const { assertion, approval } = item;
  const credential = approver.passkeys?.find((c) => c.credentialId === assertion.id);
  if (!credential || assertion.rawId !== assertion.id) return { ok: false, why: `its passkey ${assertion.id.slice(0, 16)}… is not one the owner vouched for in ${approver.name}'s person statement (version ${approver.version})` };
  // Loaded when a passkey approval is first checked: every API function that records decisions
  // imports this module, and most never see a passkey (cold starts: bench/reports/cold-start.md).
  const { verifyAuthenticationResponse } = await import('@simplewebauthn/server');
  let verification;
  try {
    verification = await verifyAuthenticationResponse({
      response: assertion,
      expectedChallenge: passkeyChallenge(approval),
      expectedOrigin: credential.origin,
      expectedRPID: credential.rpId,
      expectedType: 'webauthn.get',
      // The counter is checked below, against this agent's own record of it.
      credential: { id: credential.credentialId, publicKey: fromB64(credential.publicKey), counter: 0 },
      requireUserVerification: true,
    });
  } catch (error) {
    return { ok: false, why: `its passkey assertion does not verify: ${(error as Error).message}` };
  }
  if (!verification.verified) return { ok: false, why: 'its passkey signature does not verify under the vouched public key' };
  const counter = verification.authenticationInfo.newCounter;
  const seen = pins[counterPin(credential.credentialId)] ?? 0;
  const again = pins[assertionPin(credential.credentialId, assertion.response.signature)] !== undefined;
  if (!again && (counter > 0 || seen > 0) && counter <= seen) {
    return { ok: false, why: `its passkey's sign counter ${counter} is not above ${seen}, already seen: a replayed assertion or a cloned authenticator` };
  }
  return {
    ok: true,
    counter,
    pins: {
      ...(counter > seen ? { [counterPin(credential.credentialId)]: counter } : {}),
      [assertionPin(credential.credentialId, assertion.response.signature)]: Math.max(counter, 1),
    },
  };
};
