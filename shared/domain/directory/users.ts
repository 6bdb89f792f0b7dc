import type { z } from 'zod';
import type { createUserInput } from '#shared/protocol/directory.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import type { Actor } from '../access/actor.ts';
import { NotFoundError } from '../errors.ts';
import type { DirectoryDeps } from './deps.ts';
import { userView } from './views.ts';
import { keyView } from '../agents/owner-keys.ts';
import { mintToken } from '../accounts/token-secret.ts';

export const FIRST_TOKEN_DAYS = 7;

export const makeUsers = ({ directory, act, clock, ids }: DirectoryDeps) => ({
  me: (actor: Actor) =>
    act(actor, 'me:read', { audited: false }, async () => {
      const [account, user] = await Promise.all([directory.getAccount(actor.accountId), directory.getUser(actor.accountId, actor.userId)]);
      if (!account || !user) throw new NotFoundError('The account of this token no longer exists');
      return {
        accountId: account.accountId,
        accountName: account.name,
        user: userView(user),
        tokenId: actor.tokenId,
        ...(account.ownerKey ? { ownerKey: keyView(account.ownerKey) } : {}),
        ...(user.signingKey ? { signingKey: { ...keyView(user.signingKey), vouched: Boolean(user.signingKey.vouch) } } : {}),
      };
    }),

  create: (actor: Actor, input: z.infer<typeof createUserInput>) =>
    act(actor, 'users:create', { target: (u) => ({ type: 'user', id: u.userId }) }, async () => {
      // 1. New id; the email is unique within the account (the store claims it first).
      // 2. Write the person with the role given; approvers gain rights only through groups.
      // 3. Mint their first token, valid for a week, for the owner to hand over once; the
      //    person then makes their own tokens and this one expires or is revoked.
      const now = clock.now();
      const user = { accountId: actor.accountId, userId: ids.next('usr'), ...input, createdAt: now.toISOString() };
      await directory.putUser(user);
      const { token, secret } = mintToken(user, ids.next('tok'), 'first sign-in', now, FIRST_TOKEN_DAYS);
      await directory.putToken(token);
      return { ...userView(user), firstToken: { tokenId: token.tokenId, secret, expiresAt: token.expiresAt } };
    }),

  list: (actor: Actor, page: PageRequest) =>
    act(actor, 'users:list', { audited: false }, async () => {
      const result = await directory.listUsers(actor.accountId, page);
      return { ...result, items: result.items.map(userView) };
    }),
});
