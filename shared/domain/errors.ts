/**
 * Named domain errors. One mapper (functions/http/problem.ts) turns them into problem+json;
 * anything that is not a DomainError is a 500 that says nothing internal.
 */
export abstract class DomainError extends Error {
  /** Stable, documented problem type: the last segment of `https://latchkey.dev/problems/<type>`. */
  abstract readonly type: string;
  abstract readonly status: number;
  /** The request field at fault, as a JSON pointer-ish dotted path, when one is. */
  readonly field: string | undefined;

  constructor(message: string, field?: string) {
    super(message);
    this.name = new.target.name;
    this.field = field;
  }
}

export class ValidationError extends DomainError {
  readonly type = 'validation-failed';
  readonly status = 400;
}

export class MalformedRequestError extends DomainError {
  readonly type = 'malformed-request';
  readonly status = 400;
}

export class UnauthenticatedError extends DomainError {
  readonly type = 'unauthenticated';
  readonly status = 401;
}

export class ForbiddenError extends DomainError {
  readonly type = 'forbidden';
  readonly status = 403;
}

/** Also used for resources of another account, so their existence is never hinted. */
export class NotFoundError extends DomainError {
  readonly type = 'not-found';
  readonly status = 404;
}

export class MethodNotAllowedError extends DomainError {
  readonly type = 'method-not-allowed';
  readonly status = 405;
}

export class ConflictError extends DomainError {
  readonly type = 'conflict';
  readonly status = 409;
}

/** Something that existed and has run out: an expired link (404 would say it never existed). */
export class GoneError extends DomainError {
  readonly type = 'gone';
  readonly status = 410;
}

export class PayloadTooLargeError extends DomainError {
  readonly type = 'payload-too-large';
  readonly status = 413;
}

export class UnsupportedMediaTypeError extends DomainError {
  readonly type = 'unsupported-media-type';
  readonly status = 415;
}
