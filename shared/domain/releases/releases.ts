import type { z } from 'zod';
import type { completeReleaseInput, createReleaseInput, renewUploadInput } from '#shared/protocol/releases.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { Ids } from '#shared/ports/ids.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import type { ReleaseObjects, ReleaseStore } from '#shared/ports/release-store.ts';
import type { Act } from '../access/act.ts';
import type { Actor } from '../access/actor.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { MULTIPART_PART_BYTES } from '#shared/protocol/releases.ts';
import type { Release } from './model.ts';

/**
 * How long an upload URL lasts. Short, since whoever holds it can write the release; the pusher
 * renews the URLs of the parts it has yet to send (renewUpload), so no upload, of any size,
 * needs to finish within it: only one part (MULTIPART_PART_BYTES, 8 MiB) must, which needs
 * 10 KB/s. (A URL also stops working when the signing function's session credentials expire,
 * which renewal covers too.)
 */
export const UPLOAD_URL_SECONDS = 15 * 60;

export const releaseView = ({ releaseId, appId, version, state, encrypted, size, digest, createdAt, completedAt, masterVersion, sealRequest, manifest, createdBy }: Release) => ({
  releaseId,
  appId,
  version,
  state,
  encrypted,
  size,
  ...(digest ? { digest } : {}),
  createdAt,
  ...(completedAt ? { completedAt } : {}),
  ...(masterVersion ? { masterVersion } : {}),
  // The pusher's signed manifest: deployers and approvers check it and name it in what they sign.
  ...(manifest ? { manifest } : {}),
  createdBy,
  ...(state === 'sealing' && sealRequest ? { sealing: { agentId: sealRequest.agentId, acknowledged: !!sealRequest.acknowledgedAt } } : {}),
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
        const expiresAt = new Date(now.getTime() + UPLOAD_URL_SECONDS * 1000).toISOString();
        if (input.size <= MULTIPART_PART_BYTES) {
          await releases.putRelease(release);
          const url = await objects.presignPut(release.objectKey, input.size, UPLOAD_URL_SECONDS);
          return { ...releaseView(release), upload: { type: 'single' as const, url, method: 'PUT' as const, expiresAt } };
        }
        // Large releases go up in parts, each with its own presigned URL.
        const uploadId = await objects.startMultipart(release.objectKey);
        await releases.putRelease({ ...release, uploadId });
        const count = Math.ceil(input.size / MULTIPART_PART_BYTES);
        const parts = await Promise.all(
          Array.from({ length: count }, async (_v, i) => ({
            partNumber: i + 1,
            url: await objects.presignPart(release.objectKey, uploadId, i + 1, UPLOAD_URL_SECONDS),
          })),
        );
        return { ...releaseView(release), upload: { type: 'multipart' as const, partSize: MULTIPART_PART_BYTES, parts, expiresAt } };
      }),

    complete: (actor: Actor, appId: string, releaseId: string, input: z.infer<typeof completeReleaseInput>) =>
      act(actor, 'releases:create', { target: { type: 'release', id: releaseId } }, async () => {
        // 1. The release must be this application's and still uploading.
        // 2. The object must be in the bucket with the announced size; the digest is the
        //    pusher's word, which targets check against the bytes they download.
        // 3. An encrypted release then waits for a key server to seal its key (POST …/seal).
        const release = await releases.getRelease(actor.accountId, releaseId);
        if (!release || release.appId !== appId) throw new NotFoundError('No such release');
        if (release.state !== 'uploading') {
          if (release.digest === input.digest) return releaseView(release);
          throw new ConflictError('The release is already complete with another digest');
        }
        if (release.encrypted && !input.manifest) throw new ValidationError('manifest: an encrypted release needs its signed manifest', 'manifest');
        if (release.uploadId) {
          if (!input.parts?.length) throw new ValidationError('parts: a multipart upload needs its parts', 'parts');
          await objects.completeMultipart(release.objectKey, release.uploadId, input.parts);
        }
        const size = await objects.sizeOf(release.objectKey);
        if (size === undefined) throw new ConflictError('Nothing was uploaded for this release yet');
        if (size !== release.size) throw new ConflictError(`The upload has ${size} bytes, not the ${release.size} announced`);
        const at = clock.now().toISOString();
        const done = release.encrypted
          ? await releases.markSealing(release, input.digest, input.manifest, at)
          : await releases.markReady({ ...release, ...(input.manifest ? { manifest: input.manifest } : {}) }, input.digest, at);
        return releaseView(done);
      }),

    renewUpload: (actor: Actor, appId: string, releaseId: string, input: z.infer<typeof renewUploadInput>) =>
      act(actor, 'releases:create', { audited: false }, async () => {
        // 1. Only for a release of this application still uploading (a completed one takes no bytes).
        // 2. Fresh URLs, valid from now, for the parts asked (all when none are named).
        const release = await releases.getRelease(actor.accountId, releaseId);
        if (!release || release.appId !== appId) throw new NotFoundError('No such release');
        if (release.state !== 'uploading') throw new ConflictError('The release is complete: there is nothing more to upload');
        const now = clock.now();
        const expiresAt = new Date(now.getTime() + UPLOAD_URL_SECONDS * 1000).toISOString();
        if (!release.uploadId) {
          if (input.parts && input.parts.some((n) => n !== 1)) throw new ValidationError('parts: a single upload has only part 1', 'parts');
          const url = await objects.presignPut(release.objectKey, release.size, UPLOAD_URL_SECONDS);
          return { type: 'single' as const, url, method: 'PUT' as const, expiresAt };
        }
        const count = Math.ceil(release.size / MULTIPART_PART_BYTES);
        const numbers = [...new Set(input.parts ?? Array.from({ length: count }, (_v, i) => i + 1))].sort((a, b) => a - b);
        if (numbers.some((n) => n > count)) throw new ValidationError(`parts: this release has parts 1 to ${count}`, 'parts');
        const uploadId = release.uploadId;
        const parts = await Promise.all(
          numbers.map(async (partNumber) => ({ partNumber, url: await objects.presignPart(release.objectKey, uploadId, partNumber, UPLOAD_URL_SECONDS) })),
        );
        return { type: 'multipart' as const, partSize: MULTIPART_PART_BYTES, parts, expiresAt };
      }),

    get: (actor: Actor, appId: string, releaseId: string) =>
      act(actor, 'releases:list', { audited: false }, async () => {
        const release = await releases.getRelease(actor.accountId, releaseId);
        if (!release || release.appId !== appId) throw new NotFoundError('No such release');
        return releaseView(release);
      }),

    list: (actor: Actor, appId: string, page: PageRequest) =>
      act(actor, 'releases:list', { audited: false }, async () => {
        await appOf(actor, appId);
        const result = await releases.listReleases(actor.accountId, appId, page);
        return { ...result, items: result.items.map(releaseView) };
      }),
  };
};
