import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { passkeyPageNeedsScript, passkeyPageStatus, renderPasskeyPage, renderPasskeyProblemPage } from '#shared/domain/passkeys/page.ts';
import { html, htmlHandler, htmlWithScript } from '../http/html.ts';
import { pageScript } from '../web/scripts.ts';
import { passkeyLinks } from './passkeys-context.ts';

/**
 * GET /passkeys/{token}: whose passkey, what happens, and the Register button; changes nothing
 * (mail scanners open links). Our registration script runs, under `script-src 'self'`, only
 * while the link is open.
 */
export const passkeyPage = async (event: APIGatewayProxyEventV2) => {
  const model = await passkeyLinks.view(event.pathParameters?.token ?? '');
  const body = renderPasskeyPage(model, pageScript('passkey-register.js'));
  return passkeyPageNeedsScript(model) ? htmlWithScript(passkeyPageStatus(model), body) : html(passkeyPageStatus(model), body);
};

export const handler = htmlHandler(passkeyPage, (problem) => renderPasskeyProblemPage(problem.title));
