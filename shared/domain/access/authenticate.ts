import type { Clock } from '#shared/ports/clock.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import { isActive } from '../accounts/model.ts';
import { hashTokenSecret, looksLikeTokenSecret } from '../accounts/token-secret.ts';
import { UnauthenticatedError } from '../errors.ts';
import type { Actor } from './actor.ts';

/**
 * Turns a bearer secret into an actor. Every failure says the same thing, so a caller learns
 * nothing about which tokens exist, were revoked or have expired.
 */
export const makeAuthenticate =
  ({ directory, clock }: { directory: DirectoryStore; clock: Clock }) =>
  async (secret: string | undefined): Promise<Actor> => {
    const refused = () => new UnauthenticatedError('A valid API token is required (Authorization: Bearer lk_…)');
    if (!secret || !looksLikeTokenSecret(secret)) throw refused();
    const token = await directory.findTokenByHash(hashTokenSecret(secret));
    if (!token || token.revokedAt || token.expiresAt <= clock.now().toISOString()) throw refused();
    const user = await directory.getUser(token.accountId, token.userId);
    // A disabled or removed person's tokens are revoked too; this also covers a revocation cut short.
    if (!user || !isActive(user)) throw refused();
    return { accountId: token.accountId, userId: user.userId, role: user.role, tokenId: token.tokenId, tokenSecretHash: token.secretHash };
  };
