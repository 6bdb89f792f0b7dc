import type { z } from 'zod';
import type { createTokenInput } from '#shared/protocol/directory.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import { mintToken } from '../accounts/token-secret.ts';
import type { Actor } from '../access/actor.ts';
import { NotFoundError, UnauthenticatedError } from '../errors.ts';
import type { DirectoryDeps } from './deps.ts';
import { childExpiry, revokeWithDescendants } from './token-lineage.ts';
import { tokenView } from './views.ts';

export const makeTokens = ({ directory, act, clock, ids }: DirectoryDeps) => {
  /** Revokes every token of a person, with what was made with each; answers the ids found. */
  const revokeAllOf = async (accountId: string, userId: string, at: string) => {
    const found = new Set<string>();
    for (const token of await directory.tokensOf(accountId, userId)) {
      const { root, descendants } = await revokeWithDescendants(directory, accountId, token, at);
      if (root) found.add(root.tokenId);
      descendants.forEach((id) => found.add(id));
    }
    return [...found].sort();
  };

  return {
    revokeAllOf,

    create: (actor: Actor, input: z.infer<typeof createTokenInput>) =>
      act(actor, 'tokens:create', { target: (t) => ({ type: 'token', id: t.tokenId }) }, async () => {
        // 1. The token asking is the new one's parent: it expires no later than its parent.
        // 2. 256 random bits; only their SHA-256 is written, after the links from its person
        //    and its parent. It belongs to the person asking and carries their role, no more.
        // 3. The parent is read again: revoked meanwhile, the new token is revoked too and
        //    refused (the revocation may have listed the parent's tokens before this one).
        // 4. The secret is returned this once.
        const parent = actor.tokenSecretHash ? await directory.findTokenByHash(actor.tokenSecretHash) : undefined;
        if (!parent || parent.tokenId !== actor.tokenId) throw new UnauthenticatedError('Tokens are made with an API token');
        const now = clock.now();
        const minted = mintToken(actor, ids.next('tok'), input.label, now, input.expiresInDays);
        const token = { ...minted.token, expiresAt: childExpiry(now, input.expiresInDays, parent.expiresAt), parentTokenId: parent.tokenId };
        await directory.putToken(token);
        if ((await directory.findTokenByHash(parent.secretHash))?.revokedAt) {
          await directory.revokeToken(token, clock.now().toISOString());
          throw new UnauthenticatedError('The token this request was made with was revoked meanwhile');
        }
        return { ...tokenView(token), secret: minted.secret };
      }),

    list: (actor: Actor, page: PageRequest) =>
      act(actor, 'tokens:list', { audited: false }, async () => {
        // The owner sees every token of the account, anyone else only their own.
        const result = await directory.listTokens(actor.accountId, page, actor.role === 'owner' ? undefined : actor.userId);
        return { ...result, items: result.items.map(tokenView) };
      }),

    /** Revokes a token and every token made with it (token-lineage.ts). */
    revoke: async (actor: Actor, tokenId: string) => {
      const token = await directory.getToken(actor.accountId, tokenId);
      // Someone else's token looks exactly like a missing one to a non-owner.
      const visible = token && (actor.role === 'owner' || token.userId === actor.userId) ? token : undefined;
      return act(actor, 'tokens:revoke', { target: { type: 'token', id: tokenId }, ownedByActor: !token || token.userId === actor.userId }, async () => {
        if (!visible) throw new NotFoundError('No such token');
        const { root, descendants } = await revokeWithDescendants(directory, actor.accountId, visible, clock.now().toISOString());
        return { ...tokenView(root ?? visible), alsoRevoked: descendants };
      });
    },

    /** The owner revokes every token of a person at once (with every token made with them). */
    revokeAll: (actor: Actor, userId: string) =>
      act(actor, 'tokens:revoke-all', { target: { type: 'user', id: userId } }, async () => {
        if (!(await directory.getUser(actor.accountId, userId))) throw new NotFoundError('No such user');
        return { userId, revoked: await revokeAllOf(actor.accountId, userId, clock.now().toISOString()) };
      }),
  };
};
