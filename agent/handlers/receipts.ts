import type { ReleaseManifest } from '#shared/crypto/index.ts';
import { signReceipt } from '#shared/protocol/receipts.ts';
import type { AgentIdentity } from './types.ts';

/**
 * The receipts this agent signs for what it did (shared/protocol/receipts.ts), with its own
 * signing key: the backend only carries them to whoever reads the deployment.
 */

type DeployRequestIds = { deploymentId: string; releaseId: string; environmentId: string };

const idsOf = (self: AgentIdentity, request: DeployRequestIds) => ({
  v: 1 as const,
  accountId: self.accountId,
  agentId: self.agentId,
  deploymentId: request.deploymentId,
  releaseId: request.releaseId,
  environmentId: request.environmentId,
});

/** A key server granted `targets` this deployment of the release its verified manifest names, until `expiresAt`. */
export const grantIssued = (self: AgentIdentity, request: DeployRequestIds, manifest: ReleaseManifest, grant: { targets: string[]; issuedAt: number; expiresAt: number; evidenceHash?: string; approvals?: 'signed' | 'backend' | 'none' }) =>
  signReceipt(self.keys.signing.privateKey, {
    ...idsOf(self, request),
    ...(grant.evidenceHash ? { evidenceHash: grant.evidenceHash } : {}),
    ...(grant.approvals ? { approvals: grant.approvals } : {}),
    kind: 'grant-issued',
    digest: manifest.fileDigest.toString('hex'),
    targets: grant.targets,
    expiresAt: new Date(grant.expiresAt).toISOString(),
    issuedAt: new Date(grant.issuedAt).toISOString(),
  });

/** A target installed the release whose digest it verified; `current` points to it now. */
export const releaseInstalled = (self: AgentIdentity, request: DeployRequestIds, manifest: ReleaseManifest, installed: { current: string; at: number; evidenceHash?: string; approvals?: 'signed' | 'backend' | 'none' }) =>
  signReceipt(self.keys.signing.privateKey, {
    ...idsOf(self, request),
    ...(installed.evidenceHash ? { evidenceHash: installed.evidenceHash } : {}),
    ...(installed.approvals ? { approvals: installed.approvals } : {}),
    kind: 'release-installed',
    digest: manifest.fileDigest.toString('hex'),
    current: installed.current,
    installedAt: new Date(installed.at).toISOString(),
  });
