import type { PasskeyCredential } from '#shared/protocol/passkeys.ts';

/** A single-use link for one person to register one passkey. Only the hash of its secret is stored. */
export type PasskeyLink = {
  secretHash: string;
  accountId: string;
  /** The person the passkey is for: the link registers for them and nobody else. */
  userId: string;
  /** The owner who asked for it. */
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  /** The WebAuthn challenge of the latest registration options, and when they were issued. */
  challenge?: string;
  challengedAt?: string;
  usedAt?: string;
  /** What was registered through it, once used. */
  credential?: RegisteredPasskey;
};

/** A credential the backend holds for a person: the owner's statement, not this, is what counts. */
export type RegisteredPasskey = PasskeyCredential & { accountId: string; userId: string; registeredAt: string };

export interface PasskeyRegistrationStore {
  putLink(link: PasskeyLink): Promise<void>;
  getLink(secretHash: string): Promise<PasskeyLink | undefined>;
  /** Sets the challenge of a link that is unused and unexpired at `at`; false otherwise. */
  setChallenge(secretHash: string, challenge: string, at: string): Promise<boolean>;
  /**
   * Records the credential and marks the link used, as one conditional write: only while the
   * link is unused, unexpired at `credential.registeredAt` and still holds `challenge` (so a
   * response to options that newer ones replaced is refused). False when any of that fails.
   */
  register(secretHash: string, challenge: string, credential: RegisteredPasskey): Promise<boolean>;
  /** The credentials registered for a person, oldest first. */
  credentialsOf(accountId: string, userId: string): Promise<RegisteredPasskey[]>;
}
