import { makeApprovalByLink } from '#shared/domain/deployments/approval-by-link.ts';
import { pageNeedsScript, renderApprovalPage, statusCodeOf, type ApprovalPageModel } from '#shared/domain/deployments/approval-page.ts';
import { systemClock } from '#shared/ports/clock.ts';
import { html, htmlWithScript } from '../http/html.ts';
import { pageScript } from '../web/scripts.ts';
import { audit, deploymentStore, deployments, directory, links, signedDecisions } from '../deployments-context.ts';

// The approval page's use cases, on the same adapters and deployment use cases as the API:
// a decision through a link is the same transition, conditional write and audit event.
export const approvalByLink = makeApprovalByLink({
  links,
  deployments: deploymentStore,
  directory,
  decisions: deployments,
  signed: signedDecisions,
  audit,
  clock: systemClock,
});

/** The page for a model: with our passkey script (and the CSP that allows it) only while a signed decision can be made on it. */
export const approvalPageResponse = (model: ApprovalPageModel) =>
  pageNeedsScript(model) ? htmlWithScript(statusCodeOf(model), renderApprovalPage(model, pageScript('passkey-approve.js'))) : html(statusCodeOf(model), renderApprovalPage(model));
