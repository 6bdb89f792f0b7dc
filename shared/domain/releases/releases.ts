import type { z } from 'zod';
import { CryptoError } from '#shared/crypto/errors.ts';
import { verifyManifest, type ReleaseManifest } from '#shared/crypto/manifest.ts';
import type { completeReleaseInput, createReleaseInput, renewUploadInput } from '#shared/protocol/releases.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { Ids } from '#shared/ports/ids.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import type { ReleaseObjects, ReleaseStore } from '#shared/ports/release-store.ts';
import type { StatementStore } from '#shared/ports/statement-store.ts';
import { StatementError, verifyStatement } from '#shared/protocol/statements.ts';
import { fromB64, keyFingerprint } from '#shared/protocol/trust.ts';
import type { Act } from '../access/act.ts';
import type { Actor } from '../access/actor.ts';
import { releasePayloadContext } from '../deploys/contexts.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../errors.ts';
import { MULTIPART_PART_BYTES } from '#shared/protocol/releases.ts';
import type { Release, ReleaseSigner } from './model.ts';

/**
 * How long an upload URL lasts. Short, since whoever holds it can write the release; the pusher
 * renews the URLs of the parts it has yet to send (renewUpload), so no upload, of any size,
 * needs to finish within it: only one part (MULTIPART_PART_BYTES, 8 MiB) must, which needs
 * 10 KB/s. (A URL also stops working when the signing function's session credentials expire,
 * which renewal covers too.)
 */
export const UPLOAD_URL_SECONDS = 15 * 60;

/** Where a single upload lands before `complete` copies it next to its release (the bucket expires these). */
export const STAGING_PREFIX = 'staging/';
const stagingKeyOf = (objectKey: string) => `${STAGING_PREFIX}${objectKey}`;

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
  directory: Pick<DirectoryStore, 'getApp' | 'getAccount'>;
  statements: Pick<StatementStore, 'get'>;
  releases: ReleaseStore;
  objects: ReleaseObjects;
  act: Act;
  clock: Clock;
  ids: Ids;
};

export const makeReleases = ({ directory, statements, releases, objects, act, clock, ids }: Deps) => {
  const appOf = async (actor: Actor, appId: string) => {
    const app = await directory.getApp(actor.accountId, appId);
    if (!app) throw new NotFoundError('No such application');
    return app;
  };

  /** The release, of this application, for its pusher or the owner only: nobody completes, renews or seals another person's push. */
  const pushedBy = async (actor: Actor, appId: string, releaseId: string) => {
    const release = await releases.getRelease(actor.accountId, releaseId);
    if (!release || release.appId !== appId) throw new NotFoundError('No such release');
    if (release.createdBy !== actor.userId && actor.role !== 'owner') throw new ForbiddenError('Only the person who pushed a release, or the account owner, may complete, renew or seal it');
    return release;
  };

  /**
   * The pusher's manifest, verified under the release-signing key the owner vouched for in their
   * person statement (checked under the account's owner key), for this release and its size: the
   * digest people are shown and targets check comes from it, not from the pusher's say-so.
   */
  const verifiedManifest = async (release: Release, manifest: string): Promise<{ verified: ReleaseManifest; signer: ReleaseSigner }> => {
    const [account, stored] = await Promise.all([directory.getAccount(release.accountId), statements.get(release.accountId, 'person', release.createdBy)]);
    let signingKey: string | undefined;
    try {
      signingKey = account?.ownerKey && stored ? verifyStatement(fromB64(account.ownerKey.publicKey), stored, { kind: 'person', accountId: release.accountId, subject: release.createdBy }).signingKey : undefined;
    } catch (error) {
      if (!(error instanceof StatementError)) throw error;
    }
    if (!signingKey) throw new ConflictError('The owner has vouched for no release-signing key of the pusher (`latchkey keys vouch PERSON --key KEY`): the release cannot be completed');
    let verified: ReleaseManifest;
    try {
      verified = verifyManifest(fromB64(manifest), fromB64(signingKey), releasePayloadContext(release));
    } catch (error) {
      if (error instanceof CryptoError) {
        throw new ValidationError(`manifest: it does not verify under the pusher's vouched key for this release (${error.message})`, 'manifest');
      }
      throw error;
    }
    if (verified.ciphertextSize !== release.size) throw new ValidationError(`manifest: it names ${verified.ciphertextSize} bytes, not the ${release.size} announced`, 'manifest');
    if ((verified.segmentSize > 0) !== release.encrypted) throw new ValidationError(`manifest: it is for ${release.encrypted ? 'a plain' : 'an encrypted'} release; this one is ${release.encrypted ? 'encrypted' : 'plain'}`, 'manifest');
    return { verified, signer: { userId: release.createdBy, fingerprint: keyFingerprint(fromB64(signingKey)) } };
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
          // The URL writes a staging key that `complete` copies from: once complete, nothing
          // written through the URL reaches what targets download.
          const staged = { ...release, uploadKey: stagingKeyOf(release.objectKey) };
          await releases.putRelease(staged);
          const url = await objects.presignPut(staged.uploadKey, input.size, UPLOAD_URL_SECONDS);
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
        // 1. The release must be this application's, pushed by the actor (or the actor owns the account).
        // 2. The manifest must verify under the pusher's vouched key (verifiedManifest); the
        //    digest is the one it signs (a digest sent beside it must be the same).
        // 3. The object must be in the bucket with the announced size: a single upload is copied
        //    from its staging key (the upload URL writes only there), a multipart one completed
        //    (its part URLs die with the upload).
        // 4. An encrypted release then waits for a key server to seal its key (POST …/seal).
        const release = await pushedBy(actor, appId, releaseId);
        const { verified, signer } = await verifiedManifest(release, input.manifest);
        const digest = verified.fileDigest.toString('hex');
        if (input.digest && input.digest !== digest) throw new ValidationError('digest: it differs from the digest the signed manifest names', 'digest');
        if (release.state !== 'uploading') {
          if (release.digest === digest) return releaseView(release);
          throw new ConflictError('The release is already complete with another digest');
        }
        if (release.uploadId) {
          if (!input.parts?.length) throw new ValidationError('parts: a multipart upload needs its parts', 'parts');
          await objects.completeMultipart(release.objectKey, release.uploadId, input.parts);
        }
        // What was uploaded: the staged object of a single upload (then copied), or the object itself.
        const uploaded = release.uploadKey ?? release.objectKey;
        const size = await objects.sizeOf(uploaded);
        if (size === undefined) throw new ConflictError('Nothing was uploaded for this release yet');
        if (size !== release.size) throw new ConflictError(`The upload has ${size} bytes, not the ${release.size} announced`);
        if (release.uploadKey) await objects.copySmall(release.uploadKey, release.objectKey, release.size);
        const at = clock.now().toISOString();
        const done = release.encrypted
          ? await releases.markSealing({ ...release, signer }, digest, input.manifest, at)
          : await releases.markReady({ ...release, manifest: input.manifest, signer }, digest, at);
        return releaseView(done);
      }),

    renewUpload: (actor: Actor, appId: string, releaseId: string, input: z.infer<typeof renewUploadInput>) =>
      act(actor, 'releases:create', { audited: false }, async () => {
        // 1. Only for a release of this application still uploading (a completed one takes no bytes).
        // 2. Fresh URLs, valid from now, for the parts asked (all when none are named).
        const release = await pushedBy(actor, appId, releaseId);
        if (release.state !== 'uploading') throw new ConflictError('The release is complete: there is nothing more to upload');
        const now = clock.now();
        const expiresAt = new Date(now.getTime() + UPLOAD_URL_SECONDS * 1000).toISOString();
        if (!release.uploadId) {
          if (input.parts && input.parts.some((n) => n !== 1)) throw new ValidationError('parts: a single upload has only part 1', 'parts');
          const url = await objects.presignPut(release.uploadKey ?? release.objectKey, release.size, UPLOAD_URL_SECONDS);
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

    /** For the seal route: the release, if the actor pushed it or owns the account. */
    pushedBy: (actor: Actor, appId: string, releaseId: string) => act(actor, 'releases:create', { audited: false }, () => pushedBy(actor, appId, releaseId)),

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
