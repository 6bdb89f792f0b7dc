import type { z } from 'zod';
import type { createAppInput } from '#shared/protocol/directory.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import type { Actor } from '../access/actor.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { DirectoryDeps } from './deps.ts';
import { appView } from './views.ts';

/** DESIGN §5: a secure application needs the master key on at least two key servers. */
export const MIN_KEY_SERVERS_FOR_SECURE = 2;

export const makeApps = ({ directory, act, clock, ids, keyServerOnlineSeconds }: DirectoryDeps & { keyServerOnlineSeconds: number }) => ({
  create: (actor: Actor, input: z.infer<typeof createAppInput>) =>
    act(actor, 'apps:create', { target: (a) => ({ type: 'app', id: a.appId }) }, async () => {
      const now = clock.now().toISOString();
      const app = { accountId: actor.accountId, appId: ids.next('app'), name: input.name, secure: false, createdAt: now, updatedAt: now };
      await directory.putApp(app);
      return appView(app);
    }),

  list: (actor: Actor, page: PageRequest) =>
    act(actor, 'apps:list', { audited: false }, async () => {
      const result = await directory.listApps(actor.accountId, page);
      return { ...result, items: result.items.map(appView) };
    }),

  makeSecure: (actor: Actor, appId: string) =>
    act(actor, 'apps:update', { target: { type: 'app', id: appId } }, async () => {
      // 1. The application must exist in this account; making it secure again is a no-op.
      // 2. Count key servers seen within the online window; fewer than two is a 409 with the count.
      // 3. Flip the flag with a conditional write; it never flips back.
      const app = await directory.getApp(actor.accountId, appId);
      if (!app) throw new NotFoundError('No such application');
      if (app.secure) return appView(app);
      const now = clock.now();
      const since = new Date(now.getTime() - keyServerOnlineSeconds * 1000).toISOString();
      const online = await directory.countOnlineKeyServers(actor.accountId, since);
      if (online < MIN_KEY_SERVERS_FOR_SECURE) {
        throw new ConflictError(
          `An application can be made secure only while at least ${MIN_KEY_SERVERS_FOR_SECURE} key servers are online; ${online} ${online === 1 ? 'is' : 'are'} online now`,
        );
      }
      return appView(await directory.markAppSecure(actor.accountId, appId, now.toISOString()));
    }),
});
