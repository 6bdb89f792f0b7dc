import type { VouchedSigningKey } from '#shared/protocol/signing-keys.ts';

export type Role = 'owner' | 'deployer' | 'approver';

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
};
