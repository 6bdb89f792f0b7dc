import type { z } from 'zod';
import type { completeReleaseInput, createReleaseInput } from '#shared/protocol/releases.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { Ids } from '#shared/ports/ids.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import type { ReleaseObjects, ReleaseStore } from '#shared/ports/release-store.ts';
import type { Act } from '../access/act.ts';
import type { Actor } from '../access/actor.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { Release } from './model.ts';

export const UPLOAD_URL_SECONDS = 15 * 60;

export const releaseView = ({ releaseId, appId, version, state, encrypted, size, digest, createdAt, completedAt }: Release) => ({
  releaseId,
  appId,
  version,
  state,
  encrypted,
  size,
  ...(digest ? { digest } : {}),
  createdAt,
  ...(completedAt ? { completedAt } : {}),
});

type Deps = {
  directory: Pick<DirectoryStore, 'getApp'>;
  releases: ReleaseStore;
  objects: ReleaseObjects;
  act: Act;
  clock: Clock;
  ids: Ids;
};

export const makeReleases = ({ directory, releases, objects, act, clock, ids }: Deps) => {
  const appOf = async (actor: Actor, appId: string) => {
    const app = await directory.getApp(actor.accountId, appId);
    if (!app) throw new NotFoundError('No such application');
    return app;
  };

  return {
    create: (actor: Actor, appId: string, input: z.infer<typeof createReleaseInput>) =>
      act(actor, 'releases:create', { target: (r) => ({ type: 'release', id: r.releaseId }) }, async () => {
        // 1. The application decides whether the release is encrypted; the pusher cannot opt out.
        // 2. A presigned PUT for exactly the announced size, valid for a quarter of an hour.
        const app = await appOf(actor, appId);
        const now = clock.now();
        const releaseId = ids.next('rel');
        const release: Release = {
          accountId: actor.accountId,
          releaseId,
          appId,
          version: input.version,
          state: 'uploading',
          encrypted: app.secure,
          size: input.size,
          objectKey: `accounts/${actor.accountId}/apps/${appId}/releases/${releaseId}`,
          createdBy: actor.userId,
          createdAt: now.toISOString(),
        };
        await releases.putRelease(release);
        const url = await objects.presignPut(release.objectKey, input.size, UPLOAD_URL_SECONDS);
        const expiresAt = new Date(now.getTime() + UPLOAD_URL_SECONDS * 1000).toISOString();
        return { ...releaseView(release), upload: { url, method: 'PUT' as const, expiresAt } };
      }),

    complete: (actor: Actor, appId: string, releaseId: string, input: z.infer<typeof completeReleaseInput>) =>
      act(actor, 'releases:create', { target: { type: 'release', id: releaseId } }, async () => {
        // 1. The release must be this application's and still uploading.
        // 2. The object must be in the bucket with the announced size; the digest is the
        //    pusher's word, which targets check against the bytes they download.
        const release = await releases.getRelease(actor.accountId, releaseId);
        if (!release || release.appId !== appId) throw new NotFoundError('No such release');
        if (release.state === 'ready') {
          if (release.digest === input.digest) return releaseView(release);
          throw new ConflictError('The release is already complete with another digest');
        }
        const size = await objects.sizeOf(release.objectKey);
        if (size === undefined) throw new ConflictError('Nothing was uploaded for this release yet');
        if (size !== release.size) throw new ConflictError(`The upload has ${size} bytes, not the ${release.size} announced`);
        return releaseView(await releases.markReady(release, input.digest, clock.now().toISOString()));
      }),

    list: (actor: Actor, appId: string, page: PageRequest) =>
      act(actor, 'releases:list', { audited: false }, async () => {
        await appOf(actor, appId);
        const result = await releases.listReleases(actor.accountId, appId, page);
        return { ...result, items: result.items.map(releaseView) };
      }),
  };
};
