import type { Release, SealRequest } from '#shared/domain/releases/model.ts';
import type { Page, PageRequest } from './paging.ts';

export interface ReleaseStore {
  /** Creates the release; ConflictError if its application has a release of that version already. */
  putRelease(release: Release): Promise<void>;
  getRelease(accountId: string, releaseId: string): Promise<Release | undefined>;
  /** Newest first. */
  listReleases(accountId: string, appId: string, page: PageRequest): Promise<Page<Release>>;
  /** uploading -> ready, once; ConflictError if it is not uploading any more. */
  markReady(release: Release, digest: string, at: string): Promise<Release>;
  /** uploading -> sealing (encrypted releases), with the digest and the signed manifest. */
  markSealing(release: Release, digest: string, manifest: string | undefined, at: string): Promise<Release>;
  /** sealing -> ready once a key server re-wrapped the release key under master key `version`. */
  markSealed(accountId: string, releaseId: string, version: number, at: string): Promise<void>;
  /** Names the key server asked to seal a release that is still sealing; returns the request it replaces, if any. */
  recordSealRequest(accountId: string, releaseId: string, request: SealRequest): Promise<SealRequest | undefined>;
  /** Records that the key server took the seal request, if it is still the one on record. */
  acknowledgeSeal(accountId: string, releaseId: string, requestId: string, at: string): Promise<void>;
}

/** The releases bucket, seen through short-lived presigned URLs: bytes never pass the API. */
export interface ReleaseObjects {
  presignPut(key: string, size: number, expiresInSeconds: number): Promise<string>;
  presignGet(key: string, expiresInSeconds: number): Promise<string>;
  /** Size of the stored object, or undefined when nothing was uploaded. */
  sizeOf(key: string): Promise<number | undefined>;
  startMultipart(key: string): Promise<string>;
  presignPart(key: string, uploadId: string, partNumber: number, expiresInSeconds: number): Promise<string>;
  completeMultipart(key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<void>;
  /** Copies a small object (a single upload, at most MULTIPART_PART_BYTES) from `from` to `to`. */
  copySmall(from: string, to: string, size: number): Promise<void>;
}
