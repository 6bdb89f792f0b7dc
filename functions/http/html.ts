import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { MalformedRequestError } from '#shared/domain/errors.ts';
import { logger } from '../observability.ts';
import { httpHandler, type ApiHandler } from './http-handler.ts';
import { problemFor, type Problem } from './problem.ts';

/**
 * Headers of every HTML page: nothing but inline styles and a form posting back to us may run
 * or load; no framing, no caching, no Referer (the URL holds a secret), no sniffing.
 */
export const HTML_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

export const html = (statusCode: number, body: string): APIGatewayProxyStructuredResultV2 => ({ statusCode, headers: { ...HTML_HEADERS }, body });

/**
 * A page that runs our own script (web/scripts/, served by GET /assets/{name}): scripts and
 * requests from our origin only — nothing inline, nothing from elsewhere.
 */
export const SCRIPTED_PAGE_CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export const htmlWithScript = (statusCode: number, body: string): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { ...HTML_HEADERS, 'content-security-policy': SCRIPTED_PAGE_CSP },
  body,
});

/** No form of ours comes near this. */
export const MAX_FORM_BODY_BYTES = 16 * 1024;

/**
 * Fields of an application/x-www-form-urlencoded body (base64 when API Gateway says so), each
 * at most once. Anything else is a MalformedRequestError (400): a form page answers bad input
 * with a page, never with a 415 or 413 a person cannot act on.
 */
export const parseFormBody = (event: APIGatewayProxyEventV2): Record<string, string> => {
  const contentType = (event.headers?.['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (contentType !== 'application/x-www-form-urlencoded') throw new MalformedRequestError('The form must be sent as application/x-www-form-urlencoded');
  const bytes = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  if (bytes.byteLength > MAX_FORM_BODY_BYTES) throw new MalformedRequestError(`The form is larger than ${MAX_FORM_BODY_BYTES} bytes`);
  const fields: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(bytes.toString('utf8'))) {
    if (Object.hasOwn(fields, name)) throw new MalformedRequestError(`The form has ${name} more than once`);
    fields[name] = value;
  }
  return fields;
};

/**
 * httpHandler's middy stack for routes that answer people with HTML: an error becomes an HTML
 * page (a 4xx keeps its message, a 5xx says nothing internal), not problem+json.
 */
export const htmlHandler = (fn: ApiHandler, errorPage: (problem: Problem) => string) =>
  httpHandler(async (event) => {
    try {
      return await fn(event);
    } catch (error) {
      const problem = problemFor(error);
      if (problem.status >= 500) logger.error('request failed', { routeKey: event.routeKey, error });
      else logger.info('request refused', { routeKey: event.routeKey, problem: problem.type, field: problem.field });
      return html(problem.status, errorPage(problem));
    }
  });
