import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { encodeContext, type CryptoContext } from './context.ts';
import { WrongKeyError } from './errors.ts';
import { assertKey, hkdf32, SALT_BYTES, TAG_BYTES } from './kdf.ts';

/**
 * One-shot AEAD under a key derived per message: KEK = HKDF-SHA256(key, fresh 32-byte salt,
 * label ‖ context), AES-256-GCM, AAD = context. Because every KEK is used exactly once, the
 * nonce can be the all-zero 96-bit value; random 256-bit salts make KEK reuse negligible where
 * random 96-bit nonces under one key would bound the number of wraps.
 */
const ZERO_NONCE = Buffer.alloc(12);

export interface Sealed {
  salt: Buffer;
  /** ciphertext ‖ 16-byte tag */
  sealed: Buffer;
}

export const seal = (
  key: Uint8Array,
  label: string,
  context: CryptoContext,
  plaintext: Uint8Array,
  salt: Uint8Array = randomBytes(SALT_BYTES),
): Sealed => {
  assertKey(key, 'key');
  if (salt.byteLength !== SALT_BYTES) throw new RangeError(`salt must be ${SALT_BYTES} bytes`);
  const ctx = encodeContext(context);
  const kek = hkdf32(key, salt, label, ctx);
  const cipher = createCipheriv('aes-256-gcm', kek, ZERO_NONCE, { authTagLength: TAG_BYTES });
  cipher.setAAD(ctx);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  kek.fill(0);
  return { salt: Buffer.from(salt), sealed: body };
};

/** Throws WrongKeyError when the tag fails: wrong key, or altered salt/ciphertext/context. */
export const open = (
  key: Uint8Array,
  label: string,
  context: CryptoContext,
  salt: Uint8Array,
  sealed: Uint8Array,
  what: string,
): Buffer => {
  assertKey(key, 'key');
  if (sealed.byteLength < TAG_BYTES) throw new WrongKeyError(`${what}: too short to authenticate`);
  const ctx = encodeContext(context);
  const kek = hkdf32(key, salt, label, ctx);
  const body = sealed.subarray(0, sealed.byteLength - TAG_BYTES);
  const tag = sealed.subarray(sealed.byteLength - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', kek, ZERO_NONCE, { authTagLength: TAG_BYTES });
  decipher.setAAD(ctx);
  decipher.setAuthTag(tag);
  try {
    const out = decipher.update(body);
    const fin = decipher.final();
    return fin.byteLength ? Buffer.concat([out, fin]) : out;
  } catch {
    throw new WrongKeyError(`${what}: authentication failed (wrong key, or the data was altered)`);
  } finally {
    kek.fill(0);
  }
};
