import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { renderApprovalPage, renderProblemPage, statusCodeOf } from '#shared/domain/deployments/approval-page.ts';
import { html, htmlHandler } from '../http/html.ts';
import { approvalByLink } from './approval-links-context.ts';

/** GET /approvals/{token}: shows the deployment and the buttons; changes nothing (mail scanners open links). */
export const approvalPage = async (event: APIGatewayProxyEventV2) => {
  const model = await approvalByLink.view(event.pathParameters?.token ?? '');
  return html(statusCodeOf(model), renderApprovalPage(model));
};

export const handler = htmlHandler(approvalPage, (problem) => renderProblemPage(problem.title));
