import { hkdfSync } from 'node:crypto';

/**
 * Domain-separation labels. Each ends in a NUL byte so no label is a prefix of another and the
 * data appended after it (a hash or a canonical context) cannot be confused with label bytes.
 */
export const LABEL = {
  releaseCommitment: 'latchkey/v1/release-commitment\0',
  releasePayload: 'latchkey/v1/release-payload\0',
  releaseDigest: 'latchkey/v1/release-digest\0',
  masterWrap: 'latchkey/v1/master-wrap\0',
  keyList: 'latchkey/v1/key-list\0',
  manifestSignature: 'latchkey/v1/release-manifest\0',
  grantSignature: 'latchkey/v1/deployment-grant\0',
} as const;

/** HKDF-SHA256 (RFC 5869) with an ASCII label followed by binary data as info. */
export const hkdf32 = (ikm: Uint8Array, salt: Uint8Array, label: string, data?: Uint8Array): Buffer => {
  const info = data ? Buffer.concat([Buffer.from(label, 'latin1'), data]) : Buffer.from(label, 'latin1');
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
};

export const KEY_BYTES = 32;
export const SALT_BYTES = 32;
export const TAG_BYTES = 16;

export const assertKey = (key: Uint8Array, what: string): void => {
  if (!(key instanceof Uint8Array) || key.byteLength !== KEY_BYTES) {
    throw new RangeError(`${what} must be ${KEY_BYTES} bytes`);
  }
};
