export type Role = 'owner' | 'deployer' | 'approver';

export type Account = {
  accountId: string;
  name: string;
  ownerId: string;
  createdAt: string;
};

export type User = {
  accountId: string;
  userId: string;
  name: string;
  email: string;
  role: Role;
  createdAt: string;
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
