import type { z } from 'zod';
import type { Clock } from '#shared/ports/clock.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { PasskeyRegistrationStore } from '#shared/ports/passkey-registrations.ts';
import type { registerPasskeyInput } from '#shared/protocol/passkey-registration.ts';
import { passkeyFingerprint } from '#shared/protocol/passkeys.ts';
import { isActive } from '../accounts/model.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import { ConflictError, DomainError, GoneError, NotFoundError } from '../errors.ts';
import { loadPasskeyLink, passkeyLinkStatus, passkeyLinkTokenId, type LoadedLink, type PasskeyLinkStatus } from './links.ts';
import { registrationOptionsFor, verifiedCredential, type WebOrigin } from './webauthn.ts';

export type RegisterPasskeyInput = z.infer<typeof registerPasskeyInput>;

type Deps = {
  store: PasskeyRegistrationStore;
  directory: Pick<DirectoryStore, 'getUser'>;
  audit: Pick<AuditTrail, 'append'>;
  clock: Clock;
  /** The origin and RP ID of the API's pages (webOriginOf(PUBLIC_API_URL)), read when first needed. */
  webOrigin: () => WebOrigin;
};

/** The audit action of a registration, as for the directory changes the owner makes. */
const AUDIT_ACTION = 'users:register-passkey';

/** Why a link that is not open refuses, as the JSON routes answer it. */
const refusalFor = (status: Exclude<PasskeyLinkStatus, 'open'>): DomainError =>
  ({
    unknown: new NotFoundError('The passkey link is not valid'),
    used: new ConflictError('The passkey link was already used: each link registers one passkey'),
    expired: new GoneError('The passkey link has expired: ask the account owner for a new one'),
  })[status];

export const makePasskeyRegistration = ({ store, directory, audit, clock, webOrigin }: Deps) => {
  /** Audits a refusal of a link that resolves to a person (one that resolves to nothing has no account to audit in). */
  const refuse = async (loaded: LoadedLink, error: DomainError): Promise<never> => {
    const { link, person, secretHash } = loaded;
    if (link && secretHash) {
      const reason = person && !isActive(person) ? `The person was ${person.status}: their passkey links no longer work` : error.message;
      await audit.append(link.accountId, {
        action: AUDIT_ACTION,
        actor: { userId: link.userId, tokenId: passkeyLinkTokenId(secretHash) },
        target: { type: 'user', id: link.userId },
        outcome: 'refused',
        reason,
      });
    }
    throw error;
  };

  /** The link, its person, and its status now; anything but open is refused. */
  const open = async (secret: string, audited: boolean) => {
    const loaded = await loadPasskeyLink(secret, store, directory);
    const status = passkeyLinkStatus(loaded.link, loaded.person, clock.now());
    if (status !== 'open') {
      const error = refusalFor(status);
      if (audited) return refuse(loaded, error);
      throw error;
    }
    return loaded as Required<LoadedLink>;
  };

  return {
    /**
     * POST …/options: registration options for the person's browser.
     * 1. The link is open.
     * 2. Options for this person (user verification required, no attestation, Ed25519 or ES256),
     *    excluding the credentials they registered already.
     * 3. The challenge is stored on the link (conditional: still unused and unexpired); only a
     *    response to the latest options can register.
     */
    options: async (secret: string) => {
      const { link, person, secretHash } = await open(secret, false);
      const options = await registrationOptionsFor(webOrigin(), person, await store.credentialsOf(link.accountId, link.userId));
      if (!(await store.setChallenge(secretHash, options.challenge, clock.now().toISOString()))) {
        // Used or expired in between: say which.
        const again = await loadPasskeyLink(secret, store, directory);
        const status = passkeyLinkStatus(again.link, again.person, clock.now());
        throw refusalFor(status === 'open' ? 'used' : status);
      }
      return options;
    },

    /**
     * POST: the browser's registration response.
     * 1. The link is open and has issued options (refusals are audited).
     * 2. The response verifies against that challenge, our origin and RP ID, with user
     *    verification, Ed25519 or ES256 (@simplewebauthn/server); nothing is written otherwise.
     * 3. The person has no credential of that id yet.
     * 4. One conditional write records the credential and uses the link; a race or a replaced
     *    challenge loses it, and nothing is recorded.
     * 5. Audited; the answer is the fingerprint the person reads to the owner.
     */
    register: async (secret: string, input: RegisterPasskeyInput) => {
      const loaded = await open(secret, true);
      const { link, person, secretHash } = loaded;
      if (!link.challenge) return refuse(loaded, new ConflictError('Ask for registration options first (POST …/options)'));
      let credential;
      try {
        credential = await verifiedCredential(input.response, link.challenge, webOrigin(), input.label);
      } catch (error) {
        if (error instanceof DomainError) await refuse(loaded, error);
        throw error;
      }
      const existing = await store.credentialsOf(link.accountId, link.userId);
      if (existing.some((known) => known.credentialId === credential.credentialId)) {
        return refuse(loaded, new ConflictError(`This passkey is already registered for ${person.name}`));
      }
      const registeredAt = clock.now().toISOString();
      if (!(await store.register(secretHash, link.challenge, { ...credential, accountId: link.accountId, userId: link.userId, registeredAt }))) {
        const again = await loadPasskeyLink(secret, store, directory);
        const status = passkeyLinkStatus(again.link, again.person, clock.now());
        return refuse(again, status === 'open' ? new ConflictError('Newer registration options replaced these: register again') : refusalFor(status));
      }
      await audit.append(link.accountId, {
        action: AUDIT_ACTION,
        actor: { userId: link.userId, tokenId: passkeyLinkTokenId(secretHash) },
        target: { type: 'user', id: link.userId },
        outcome: 'succeeded',
      });
      return { fingerprint: passkeyFingerprint(credential) };
    },
  };
};

export type PasskeyRegistration = ReturnType<typeof makePasskeyRegistration>;
