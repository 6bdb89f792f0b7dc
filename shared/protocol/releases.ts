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
  /** SHA-256 of the uploaded object, as the pusher computed it. */
  digest: sha256Hex,
});

export const release = z.object({
  releaseId,
  appId,
  version: releaseVersion,
  state: z.enum(['uploading', 'ready']),
  encrypted: z.boolean(),
  size: z.number().int(),
  digest: sha256Hex.optional(),
  createdAt: isoTime,
  completedAt: isoTime.optional(),
});
export type ReleaseView = z.infer<typeof release>;

export const createdRelease = release.extend({
  upload: z.object({ url: z.string().url(), method: z.literal('PUT'), expiresAt: isoTime }),
});
