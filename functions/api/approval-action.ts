import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { renderApprovalPage, renderProblemPage, statusCodeOf } from '#shared/domain/deployments/approval-page.ts';
import { DomainError } from '#shared/domain/errors.ts';
import { approvalForm } from '#shared/protocol/deployments.ts';
import { html, htmlHandler, parseFormBody } from '../http/html.ts';
import { validate } from '../http/request.ts';
import { approvalByLink } from './approval-links-context.ts';

/**
 * POST /approvals/{token}: the page's form. Bad input is refused at the edge with the page
 * again (400, the link untouched, what was typed kept); a valid form acts once.
 */
export const approvalAction = async (event: APIGatewayProxyEventV2) => {
  const secret = event.pathParameters?.token ?? '';
  let fields: Record<string, string> = {};
  let form;
  try {
    fields = parseFormBody(event);
    form = validate(approvalForm, fields);
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    const model = await approvalByLink.view(secret, { reason: error.message, ...(fields.message ? { draft: fields.message } : {}) });
    return html(statusCodeOf(model), renderApprovalPage(model));
  }
  const model = await approvalByLink.act(secret, form);
  return html(statusCodeOf(model), renderApprovalPage(model));
};

export const handler = htmlHandler(approvalAction, (problem) => renderProblemPage(problem.title));
