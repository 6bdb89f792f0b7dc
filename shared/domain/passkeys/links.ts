import { createHash, randomBytes } from 'node:crypto';
import type { User } from '../accounts/model.ts';
import { isActive } from '../accounts/model.ts';
import type { PasskeyLink } from '#shared/ports/passkey-registrations.ts';

// Registration links, as pure functions: the secret and its hash, where the link points, and what
// it is worth now.

/** A link works for a day: long enough to reach a person, short enough not to lie about in a mailbox. */
export const PASSKEY_LINK_HOURS = 24;

/** 256 random bits with a prefix of their own, so a registration link is never taken for another secret. */
export const newPasskeyLinkSecret = () => `lkp_${randomBytes(32).toString('base64url')}`;
export const hashPasskeyLinkSecret = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex');
/** Cheap shape check before any lookup, so garbage never reaches the store. */
export const looksLikePasskeyLinkSecret = (value: string) => /^lkp_[A-Za-z0-9_-]{43}$/.test(value);

/** Links never show their secret again: the audit trail names a link by a prefix of its hash. */
export const passkeyLinkTokenId = (secretHash: string) => `passkey-link:${secretHash.slice(0, 16)}`;

/**
 * Where the pages of an API endpoint are served: the endpoint itself, except that a loopback
 * address becomes `localhost` (WebAuthn takes no IP address as an RP ID; see webOriginOf). The
 * path is kept, for an endpoint with a stage path.
 */
export const webBaseOf = (endpoint: string): string => {
  const url = new URL(endpoint);
  if (url.hostname === '127.0.0.1' || url.hostname === '[::1]') url.hostname = 'localhost';
  return url.toString().replace(/\/+$/, '');
};

export const passkeyLinkUrl = (publicUrl: string, secret: string) => `${webBaseOf(publicUrl)}/passkeys/${secret}`;

export type PasskeyLinkStatus = 'open' | 'used' | 'expired' | 'unknown';

/**
 * What the link is worth now. A link whose person is gone, is of another account, or is no longer
 * active is `unknown`, exactly like a forged one: the page never hints at what exists. Used beats
 * expired, so a second use always says "already used".
 */
export const passkeyLinkStatus = (link: PasskeyLink | undefined, person: User | undefined, now: Date): PasskeyLinkStatus => {
  if (!link || !person) return 'unknown';
  if (person.accountId !== link.accountId || person.userId !== link.userId || !isActive(person)) return 'unknown';
  if (link.usedAt) return 'used';
  return now.toISOString() >= link.expiresAt ? 'expired' : 'open';
};

export type LoadedLink = { secretHash?: string; link?: PasskeyLink; person?: User };

/** Resolves a secret to its link and person; a secret of the wrong shape is never looked up. */
export const loadPasskeyLink = async (
  secret: string,
  store: { getLink: (secretHash: string) => Promise<PasskeyLink | undefined> },
  directory: { getUser: (accountId: string, userId: string) => Promise<User | undefined> },
): Promise<LoadedLink> => {
  if (!looksLikePasskeyLinkSecret(secret)) return {};
  const secretHash = hashPasskeyLinkSecret(secret);
  const link = await store.getLink(secretHash);
  if (!link) return { secretHash };
  return { secretHash, link, person: await directory.getUser(link.accountId, link.userId) };
};
