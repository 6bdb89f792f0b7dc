import type { z } from 'zod';
import type { createGroupInput } from '#shared/protocol/directory.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import type { Actor } from '../access/actor.ts';
import { isActive } from '../accounts/model.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { DirectoryDeps } from './deps.ts';
import { groupView } from './views.ts';

export const makeGroups = ({ directory, act, clock, ids }: DirectoryDeps) => ({
  create: (actor: Actor, input: z.infer<typeof createGroupInput>) =>
    act(actor, 'groups:create', { target: (g) => ({ type: 'group', id: g.groupId }) }, async () => {
      const group = { accountId: actor.accountId, groupId: ids.next('grp'), name: input.name, members: [], createdAt: clock.now().toISOString() };
      await directory.putGroup(group);
      return groupView(group);
    }),

  list: (actor: Actor, page: PageRequest) =>
    act(actor, 'groups:list', { audited: false }, async () => {
      const result = await directory.listGroups(actor.accountId, page);
      return { ...result, items: result.items.map(groupView) };
    }),

  addMember: (actor: Actor, groupId: string, userId: string) =>
    act(actor, 'groups:manage-members', { target: { type: 'group', id: groupId } }, async () => {
      // Both must exist in the actor's account: ids of another account are simply not found.
      const user = await directory.getUser(actor.accountId, userId);
      if (!user) throw new NotFoundError('No such user');
      if (!isActive(user)) throw new ConflictError(`${user.email} is ${user.status}: a person who is not active cannot be made an approver`);
      return groupView(await directory.addGroupMember(actor.accountId, groupId, userId));
    }),

  removeMember: (actor: Actor, groupId: string, userId: string) =>
    act(actor, 'groups:manage-members', { target: { type: 'group', id: groupId } }, async () =>
      groupView(await directory.removeGroupMember(actor.accountId, groupId, userId)),
    ),
});
