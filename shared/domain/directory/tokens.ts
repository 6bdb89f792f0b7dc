import type { z } from 'zod';
import type { createTokenInput } from '#shared/protocol/directory.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import { mintToken } from '../accounts/token-secret.ts';
import type { Actor } from '../access/actor.ts';
import { NotFoundError } from '../errors.ts';
import type { DirectoryDeps } from './deps.ts';
import { tokenView } from './views.ts';

export const makeTokens = ({ directory, act, clock, ids }: DirectoryDeps) => ({
  create: (actor: Actor, input: z.infer<typeof createTokenInput>) =>
    act(actor, 'tokens:create', { target: (t) => ({ type: 'token', id: t.tokenId }) }, async () => {
      // 1. 256 random bits; only their SHA-256 is written.
      // 2. The token belongs to the person asking and carries their role, no more.
      // 3. The secret is returned this once.
      const { token, secret } = mintToken(actor, ids.next('tok'), input.label, clock.now(), input.expiresInDays);
      await directory.putToken(token);
      return { ...tokenView(token), secret };
    }),

  list: (actor: Actor, page: PageRequest) =>
    act(actor, 'tokens:list', { audited: false }, async () => {
      // The owner sees every token of the account, anyone else only their own.
      const result = await directory.listTokens(actor.accountId, page, actor.role === 'owner' ? undefined : actor.userId);
      return { ...result, items: result.items.map(tokenView) };
    }),

  revoke: async (actor: Actor, tokenId: string) => {
    const token = await directory.getToken(actor.accountId, tokenId);
    // Someone else's token looks exactly like a missing one to a non-owner.
    const visible = token && (actor.role === 'owner' || token.userId === actor.userId) ? token : undefined;
    return act(actor, 'tokens:revoke', { target: { type: 'token', id: tokenId }, ownedByActor: !token || token.userId === actor.userId }, async () => {
      if (!visible) throw new NotFoundError('No such token');
      return tokenView(await directory.revokeToken(visible, clock.now().toISOString()));
    });
  },
});
