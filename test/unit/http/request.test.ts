import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConflictError, DomainError, MalformedRequestError, PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '#shared/domain/errors.ts';
import { createAccountInput } from '#shared/protocol/accounts.ts';
import { problemFor } from '#functions/http/problem.ts';
import { MAX_JSON_BODY_BYTES, parseJsonBody } from '#functions/http/request.ts';

const event = (body: string | undefined, contentType = 'application/json', isBase64Encoded = false) =>
  ({ headers: { 'content-type': contentType }, body, isBase64Encoded }) as unknown as APIGatewayProxyEventV2;

describe('parseJsonBody', () => {
  const schema = z.strictObject({ name: z.string() });

  it('returns the validated body, also when base64-encoded or with a charset', () => {
    expect(parseJsonBody(event('{"name":"x"}', 'application/json; charset=utf-8'), schema)).toEqual({ name: 'x' });
    expect(parseJsonBody(event(Buffer.from('{"name":"x"}').toString('base64'), 'application/json', true), schema)).toEqual({ name: 'x' });
  });

  it('names the failure', () => {
    expect(() => parseJsonBody(event('{}', 'text/plain'), schema)).toThrow(UnsupportedMediaTypeError);
    expect(() => parseJsonBody(event(undefined), schema)).toThrow(MalformedRequestError);
    expect(() => parseJsonBody(event('{'), schema)).toThrow(MalformedRequestError);
    expect(() => parseJsonBody(event('x'.repeat(MAX_JSON_BODY_BYTES + 1)), schema)).toThrow(PayloadTooLargeError);
    const error = (() => {
      try {
        parseJsonBody(event('{"name":1}'), schema);
      } catch (e) {
        return e as ValidationError;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect(error?.field).toBe('name');
  });

  it('never throws anything but a domain error, whatever the body (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))), (body) => {
        try {
          parseJsonBody(event(body), createAccountInput);
        } catch (error) {
          expect(error).toBeInstanceOf(DomainError);
          expect((error as DomainError).status).toBeLessThan(500);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('problemFor', () => {
  it('keeps a 4xx message and field', () => {
    expect(problemFor(new ValidationError('name: too long', 'name'))).toEqual({
      type: 'https://latchkey.dev/problems/validation-failed',
      title: 'name: too long',
      status: 400,
      field: 'name',
    });
    expect(problemFor(new ConflictError('exists')).status).toBe(409);
  });

  it('says nothing internal for anything else', () => {
    const problem = problemFor(new Error('connect ECONNREFUSED 10.0.0.1: secret table name'));
    expect(problem).toEqual({ type: 'https://latchkey.dev/problems/internal-error', title: 'Internal error', status: 500 });
  });
});
