import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { renderProblemPage } from '#shared/domain/deployments/approval-page.ts';
import { DomainError } from '#shared/domain/errors.ts';
import type { PasskeyApproval } from '#shared/protocol/deployment-evidence.ts';
import { approvalForm, passkeyDecisionInput } from '#shared/protocol/deployments.ts';
import { htmlHandler, parseFormBody } from '../http/html.ts';
import { parseJsonBody, validate } from '../http/request.ts';
import { approvalByLink, approvalPageResponse as page } from './approval-links-context.ts';

const isJson = (event: APIGatewayProxyEventV2) => (event.headers?.['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() === 'application/json';

/**
 * POST /approvals/{token}: the page's form, or (from the page's script, where a passkey signs the
 * decision) the same fields as JSON with the assertion. Bad input is refused at the edge with the
 * page again (400, the link untouched, what was typed kept); a valid decision acts once.
 */
export const approvalAction = async (event: APIGatewayProxyEventV2) => {
  const secret = event.pathParameters?.token ?? '';
  let fields: Record<string, string | undefined> = {};
  let form;
  let passkey: PasskeyApproval | undefined;
  try {
    if (isJson(event)) {
      const input = parseJsonBody(event, passkeyDecisionInput);
      fields = { action: input.action, message: input.message };
      passkey = input.passkey;
    } else {
      fields = parseFormBody(event);
    }
    form = validate(approvalForm, Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)));
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    const model = await approvalByLink.view(secret, { reason: error.message, ...(fields.message ? { draft: fields.message } : {}) });
    return page(model);
  }
  const model = await approvalByLink.act(secret, form, passkey);
  return page(model);
};

export const handler = htmlHandler(approvalAction, (problem) => renderProblemPage(problem.title));
