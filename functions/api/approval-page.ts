import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { renderProblemPage } from '#shared/domain/deployments/approval-page.ts';
import { htmlHandler } from '../http/html.ts';
import { approvalByLink, approvalPageResponse as page } from './approval-links-context.ts';

/** GET /approvals/{token}: shows the deployment and the buttons; changes nothing (mail scanners open links). */
export const approvalPage = async (event: APIGatewayProxyEventV2) => {
  const model = await approvalByLink.view(event.pathParameters?.token ?? '');
  return page(model);
};

export const handler = htmlHandler(approvalPage, (problem) => renderProblemPage(problem.title));
