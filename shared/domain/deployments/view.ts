import { intentHash } from '#shared/protocol/deployment-evidence.ts';
import type { Deployment } from './model.ts';
import { effectiveState } from './transitions.ts';

/** The key server that granted a secure deployment and its receipt, as it sent it (never the keys it made). */
const grantOf = ({ grantOutcome }: Deployment) => {
  if (!grantOutcome || !('agentId' in grantOutcome)) return {};
  const { receipt } = grantOutcome.result;
  return { grant: { agentId: grantOutcome.agentId, ...(receipt === undefined ? {} : { receipt }) } };
};

/** What the API shows: the state as of now (expiry is checked on read), never a task token. */
export const deploymentView = (deployment: Deployment, now: Date) => ({
  deploymentId: deployment.deploymentId,
  appId: deployment.appId,
  appName: deployment.appName,
  releaseId: deployment.releaseId,
  releaseVersion: deployment.releaseVersion,
  releaseDigest: deployment.releaseDigest,
  encrypted: deployment.encrypted,
  environmentId: deployment.environmentId,
  environmentName: deployment.environmentName,
  deployerId: deployment.deployerId,
  state: effectiveState(deployment, now),
  requiredApprovals: deployment.policy.approvalRequired ? deployment.policy.requiredApprovals : 0,
  votes: deployment.votes,
  ...(deployment.intent ? { intent: deployment.intent, intentHash: intentHash(deployment.intent.intent) } : {}),
  ...(deployment.declined ? { declined: deployment.declined } : {}),
  ...(deployment.canceled ? { canceled: deployment.canceled } : {}),
  ...(deployment.outcome ? { outcome: deployment.outcome } : {}),
  ...(deployment.approvalMail ? { approvalMail: deployment.approvalMail } : {}),
  createdAt: deployment.createdAt,
  updatedAt: deployment.updatedAt,
  expiresAt: deployment.expiresAt,
  history: deployment.history,
  ...grantOf(deployment),
  // Once the deploy step has sent it out: each target, and what it reported (or pending).
  ...(deployment.deployTargets
    ? { targets: deployment.deployTargets.map((agentId) => ({ agentId, ...(deployment.targetReports?.[agentId] ?? { outcome: 'pending' as const }) })) }
    : {}),
});
