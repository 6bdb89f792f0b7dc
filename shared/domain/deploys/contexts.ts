import type { CryptoContext } from '#shared/crypto/index.ts';

/**
 * The crypto contexts of a deployment (docs/release-format.md §2), built in one place for the
 * key server that makes the objects and the target that opens them: a wrap or a grant opens only
 * under the exact context it was made with, and each names the environment, so nothing made for
 * one environment can be used in another.
 */
export type DeployIds = { accountId: string; appId: string; releaseId: string; environmentId: string; deploymentId: string };

/** The release payload, as the pusher encrypted it (cli/commands/push.ts builds the same). */
export const releasePayloadContext = (ids: { accountId: string; appId: string; releaseId: string }): CryptoContext => ({
  account: ids.accountId,
  application: ids.appId,
  release: ids.releaseId,
  purpose: 'release',
});

const deployContext = (ids: DeployIds, purpose: CryptoContext['purpose']): CryptoContext => ({
  account: ids.accountId,
  application: ids.appId,
  release: ids.releaseId,
  environment: ids.environmentId,
  deployment: ids.deploymentId,
  purpose,
});

export const keyListContext = (ids: DeployIds) => deployContext(ids, 'key-list');

/** The deployment key HPKE-wrapped to one target. */
export const deploymentKeyToTargetContext = (ids: DeployIds) => deployContext(ids, 'deployment-key');

/** The deployment key kept under master key `version`. */
export const deploymentKeyUnderMasterContext = (ids: DeployIds, version: number): CryptoContext => ({ ...deployContext(ids, 'deployment-key'), keyVersion: version });

export const grantContext = (ids: DeployIds) => deployContext(ids, 'deployment-grant');
