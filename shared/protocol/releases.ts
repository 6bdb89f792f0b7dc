import { z } from 'zod';
import { appId, idOf, isoTime } from './common.ts';

export const releaseId = idOf('rel');
export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 digest in hex');

/** What people call a release: `v1.4.2`, `2026-11-23.1`, a commit id. */
export const releaseVersion = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, 'must be letters, digits and . _ + -, starting with a letter or digit');

/** Single PUT uploads stop here (S3's limit is 5 GiB); larger releases use multipart (push). */
export const MAX_RELEASE_BYTES = 5 * 1024 ** 3;

export const createReleaseInput = z.strictObject({
  version: releaseVersion,
  size: z.number().int().min(0).max(MAX_RELEASE_BYTES),
});

export const completeReleaseInput = z.strictObject({
  /** The release manifest signed by the pusher (docs/release-format.md §7), base64url: the backend verifies it under the pusher's vouched key and takes the digest from it. */
  manifest: z.string().regex(/^[A-Za-z0-9_-]+$/).max(8192),
  /** SHA-256 of the uploaded object as the pusher computed it; when given, it must be the manifest's. */
  digest: sha256Hex.optional(),
  /** Parts of a multipart upload, in order. */
  parts: z.array(z.strictObject({ partNumber: z.number().int().min(1).max(10_000), etag: z.string().min(1).max(200) })).max(10_000).optional(),
});

export const release = z.object({
  releaseId,
  appId,
  version: releaseVersion,
  /** uploading -> (encrypted: sealing, until a key server re-wraps its key under the master key) -> ready */
  state: z.enum(['uploading', 'sealing', 'ready']),
  masterVersion: z.number().int().optional(),
  /** While sealing: the key server asked last, and whether it took the request (the pusher asks the next one if not). */
  sealing: z.object({ agentId: z.string(), acknowledged: z.boolean() }).optional(),
  encrypted: z.boolean(),
  size: z.number().int(),
  digest: sha256Hex.optional(),
  /** The pusher's signed manifest (docs/release-format.md §7), base64url. */
  manifest: z.string().optional(),
  /** Who pushed it. */
  createdBy: z.string(),
  createdAt: isoTime,
  completedAt: isoTime.optional(),
});
export type ReleaseView = z.infer<typeof release>;

/** Uploads above this use multipart, in parts of this size (S3 allows 5 MiB to 5 GiB a part; the local emulator takes requests up to 11 MiB). */
export const MULTIPART_PART_BYTES = 8 * 1024 * 1024;

/**
 * Where the bytes go: presigned URLs that expire (UPLOAD_URL_SECONDS), which the pusher renews
 * for the parts still to send (POST …/upload), so an upload of any size survives a slow link.
 */
export const uploadPlan = z.union([
  z.object({ type: z.literal('single'), url: z.string().url(), method: z.literal('PUT'), expiresAt: isoTime }),
  z.object({
    type: z.literal('multipart'),
    partSize: z.number().int(),
    parts: z.array(z.object({ partNumber: z.number().int(), url: z.string().url() })),
    expiresAt: isoTime,
  }),
]);

export const createdRelease = release.extend({ upload: uploadPlan });

/** Fresh URLs for the parts still to upload (all of them when none are named). */
export const renewUploadInput = z.strictObject({
  parts: z.array(z.number().int().min(1).max(10_000)).min(1).max(10_000).optional(),
});
