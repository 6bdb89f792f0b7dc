import { createHash, randomBytes } from 'node:crypto';

const PREFIX = 'lk_';

/** 256 random bits, base64url, with a prefix that secret scanners and people can recognise. */
export const newTokenSecret = (): string => PREFIX + randomBytes(32).toString('base64url');

export const hashTokenSecret = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');

/** Cheap shape check before any lookup, so garbage never reaches the store. */
export const looksLikeTokenSecret = (value: string): boolean => /^lk_[A-Za-z0-9_-]{43}$/.test(value);

/** A new API token for one person: the record to store (hash only) and the secret to show once. */
export const mintToken = (owner: { accountId: string; userId: string }, tokenId: string, label: string, now: Date, lifetimeDays: number) => {
  const secret = newTokenSecret();
  const token = {
    accountId: owner.accountId,
    userId: owner.userId,
    tokenId,
    secretHash: hashTokenSecret(secret),
    label,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + lifetimeDays * 86_400_000).toISOString(),
  };
  return { token, secret };
};
