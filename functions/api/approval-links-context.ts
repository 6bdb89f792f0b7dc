import { makeApprovalByLink } from '#shared/domain/deployments/approval-by-link.ts';
import { systemClock } from '#shared/ports/clock.ts';
import { audit, deploymentStore, deployments, directory, links } from '../deployments-context.ts';

// The approval page's use cases, on the same adapters and deployment use cases as the API:
// a decision through a link is the same transition, conditional write and audit event.
export const approvalByLink = makeApprovalByLink({
  links,
  deployments: deploymentStore,
  directory,
  decisions: deployments,
  audit,
  clock: systemClock,
});
