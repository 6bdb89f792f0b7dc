import type { z } from 'zod';
import type { createUserInput } from '#shared/protocol/directory.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import type { Actor } from '../access/actor.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { isActive, type UserStatus } from '../accounts/model.ts';
import { makeTokens } from './tokens.ts';
import type { DirectoryDeps } from './deps.ts';
import { userView } from './views.ts';
import { keyView } from '../agents/owner-keys.ts';
import { mintToken } from '../accounts/token-secret.ts';

export const FIRST_TOKEN_DAYS = 7;

export const makeUsers = (deps: DirectoryDeps) => {
  const { directory, act, clock, ids } = deps;
  const { revokeAllOf } = makeTokens(deps);
  return {
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

  /**
   * The owner disables, enables or removes a person.
   * 1. A person of this account, not the owner; a removed person stays removed.
   * 2. One conditional write of the status.
   * 3. Enabled again, they get a first token, as when they were added (theirs stay revoked).
   * 4. Leaving active, every token of theirs is revoked, with every token made with them (run
   *    again, the same request finishes a revocation cut short). Their approval links and their
   *    votes on deployments still waiting stop counting where they are read (approval-by-link.ts,
   *    deployments.ts), and they can no longer join an approver group (groups.ts).
   * What agents count is the owner's person statement, which the CLI signs beside this.
   */
  setStatus: (actor: Actor, userId: string, status: UserStatus) =>
    act(actor, 'users:set-status', { target: { type: 'user', id: userId } }, async () => {
      const user = await directory.getUser(actor.accountId, userId);
      if (!user) throw new NotFoundError('No such user');
      if (user.role === 'owner') throw new ConflictError('The account owner cannot be disabled or removed');
      const now = clock.now();
      const updated = user.status === status ? user : await directory.setUserStatus(actor.accountId, userId, status, now.toISOString());
      if (status !== 'active') return { ...userView(updated), revokedTokens: await revokeAllOf(actor.accountId, userId, now.toISOString()) };
      // Enabled again: their tokens stay revoked, so they get a first token again, as when added.
      if (isActive(user)) return { ...userView(updated), revokedTokens: [] };
      const { token, secret } = mintToken(updated, ids.next('tok'), 'first sign-in (enabled again)', now, FIRST_TOKEN_DAYS);
      await directory.putToken(token);
      return { ...userView(updated), revokedTokens: [], firstToken: { tokenId: token.tokenId, secret, expiresAt: token.expiresAt } };
    }),
  };
};
