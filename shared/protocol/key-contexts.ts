import type { CryptoContext } from '#shared/crypto/index.ts';

/**
 * The crypto contexts that more than one program builds (docs/release-format.md §2). A wrap
 * opens only under the exact context it was made with, so the pusher (CLI) and the key server
 * (agent) must build them in one place, not each by hand.
 */

/** The release key, HPKE-wrapped by the pusher to the key server it chose. No key version: the pusher does not know it. */
export const releaseKeyToKeyServerContext = (ids: { accountId: string; appId: string; releaseId: string }): CryptoContext => ({
  account: ids.accountId,
  application: ids.appId,
  release: ids.releaseId,
  purpose: 'release-key',
});

/** The release key as the key server re-wraps it under master key `version`. */
export const releaseKeyUnderMasterContext = (ids: { accountId: string; appId: string; releaseId: string; version: number }): CryptoContext => ({
  ...releaseKeyToKeyServerContext(ids),
  keyVersion: ids.version,
});

/** The master key, HPKE-wrapped from one key server to another (or to itself). */
export const masterKeyContext = (ids: { accountId: string; version: number }): CryptoContext => ({
  account: ids.accountId,
  purpose: 'master-key',
  keyVersion: ids.version,
});
