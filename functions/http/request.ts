import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { z } from 'zod';
import { MalformedRequestError, PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '#shared/domain/errors.ts';

/** No JSON body of ours comes near this; larger ones are refused before parsing. */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

const rawBody = (event: APIGatewayProxyEventV2): string => {
  if (event.body === undefined || event.body === '') return '';
  const bytes = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
  if (bytes.byteLength > MAX_JSON_BODY_BYTES) {
    throw new PayloadTooLargeError(`The request body is larger than ${MAX_JSON_BODY_BYTES} bytes`);
  }
  return bytes.toString('utf8');
};

const fieldOf = (path: readonly PropertyKey[]): string | undefined =>
  path.length === 0 ? undefined : path.map(String).join('.');

/** Validates a value against a schema, turning the first issue into a ValidationError naming its field. */
export const validate = <S extends z.ZodType>(schema: S, value: unknown): z.infer<S> => {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue ? fieldOf(issue.path) : undefined;
  const message = issue ? issue.message : 'Invalid request';
  throw new ValidationError(field ? `${field}: ${message}` : message, field);
};

/** Parses and validates a JSON request body: 415 for other media, 413 for size, 400 for the rest. */
export const parseJsonBody = <S extends z.ZodType>(event: APIGatewayProxyEventV2, schema: S): z.infer<S> => {
  const contentType = (event.headers?.['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (contentType !== 'application/json') {
    throw new UnsupportedMediaTypeError('The request body must be application/json');
  }
  const text = rawBody(event);
  if (text === '') throw new MalformedRequestError('The request body is empty');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MalformedRequestError('The request body is not valid JSON');
  }
  return validate(schema, value);
};
