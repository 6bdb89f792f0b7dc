/**
 * Every failure of shared/crypto is a CryptoError with a machine-readable `reason`, so the agent
 * can report it (and the backend can map it) without parsing messages. Messages never contain
 * key bytes: they name what failed and where, nothing else.
 */
export type CryptoFailure =
  | 'wrong-key'
  | 'wrong-context'
  | 'tampered-header'
  | 'tampered-segment'
  | 'truncated'
  | 'trailing-data'
  | 'bad-signature'
  | 'digest-mismatch'
  | 'malformed'
  | 'unsupported-version'
  | 'expired'
  | 'insecure-key-file';

export abstract class CryptoError extends Error {
  abstract readonly reason: CryptoFailure;
  override get name(): string {
    return this.constructor.name;
  }
}

/** The key does not open this object (release commitment or AEAD tag of a wrap failed). */
export class WrongKeyError extends CryptoError {
  readonly reason = 'wrong-key' as const;
}

/** The object was made for another account/application/release/environment/purpose. */
export class WrongContextError extends CryptoError {
  readonly reason = 'wrong-context' as const;
}

/** The release header differs from the one the signed manifest names. */
export class TamperedHeaderError extends CryptoError {
  readonly reason = 'tampered-header' as const;
}

/** Segment `segment` (0-based) failed authentication: altered, reordered, duplicated or moved. */
export class TamperedSegmentError extends CryptoError {
  readonly reason = 'tampered-segment' as const;
  constructor(readonly segment: number, message = `release segment ${segment} failed authentication`) {
    super(message);
  }
}

/** The data ends before the final segment (or before the end of a fixed-size structure). */
export class TruncatedError extends CryptoError {
  readonly reason = 'truncated' as const;
  constructor(message: string, readonly segment?: number) {
    super(message);
  }
}

/** Bytes follow the final segment. */
export class TrailingDataError extends CryptoError {
  readonly reason = 'trailing-data' as const;
}

/** An Ed25519 signature (manifest, grant) does not verify under the expected key. */
export class BadSignatureError extends CryptoError {
  readonly reason = 'bad-signature' as const;
}

/** Every tag verified but the file is not the one the signed manifest describes. */
export class DigestMismatchError extends CryptoError {
  readonly reason = 'digest-mismatch' as const;
}

/** Bytes that do not parse as the expected structure (bad magic, bad lengths, bad encoding). */
export class MalformedError extends CryptoError {
  readonly reason = 'malformed' as const;
}

/** A structure whose version byte this code does not know. */
export class UnsupportedVersionError extends CryptoError {
  readonly reason = 'unsupported-version' as const;
}

/** A deployment grant used after its expiry time. */
export class ExpiredError extends CryptoError {
  readonly reason = 'expired' as const;
}

/** An agent key file readable by group or others. */
export class InsecureKeyFileError extends CryptoError {
  readonly reason = 'insecure-key-file' as const;
}
