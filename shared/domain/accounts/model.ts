import type { VouchedSigningKey } from '#shared/protocol/signing-keys.ts';

export type Role = 'owner' | 'deployer' | 'approver';

export const userStatuses = ['active', 'disabled', 'removed'] as const;
export type UserStatus = (typeof userStatuses)[number];

/** Whether a person may act: the status of people stored before there was one is active. */
export const isActive = (user: { status?: UserStatus | undefined }) => (user.status ?? 'active') === 'active';

export type Account = {
  accountId: string;
  name: string;
  ownerId: string;
  createdAt: string;
  /** The owner's Ed25519 public key (base64url): agents pin it and trust only what it signed. */
  ownerKey?: { publicKey: string; registeredAt: string };
};

export type User = {
  accountId: string;
  userId: string;
  name: string;
  email: string;
  role: Role;
  createdAt: string;
  /**
   * Absent means active. A disabled person can be enabled again; a removed one never: neither
   * can sign in (their tokens are revoked), use an approval link, or count as an approver.
   */
  status?: UserStatus;
  statusChangedAt?: string;
  /** Ed25519 public key (base64url) this person signs release manifests with, and the owner's word for it. */
  signingKey?: { publicKey: string; registeredAt: string; vouch?: VouchedSigningKey };
};

/** A personal API token. Only the SHA-256 of its secret is ever stored. */
export type ApiToken = {
  accountId: string;
  userId: string;
  tokenId: string;
  secretHash: string;
  label: string;
  createdAt: string;
  expiresAt: string;
  revokedAt?: string;
  /**
   * The token it was made with (POST /tokens): it expires no later than that one and is revoked
   * with it. Absent for a root: the owner token of a new account, a person's first token.
   */
  parentTokenId?: string;
};

/** What finds a token's item: its id, and the hash of its secret (the item's key). */
export type TokenRef = Pick<ApiToken, 'tokenId' | 'secretHash'>;
