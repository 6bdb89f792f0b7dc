import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { assertKey } from './kdf.ts';

// Raw 32-byte keys are the only form stored or sent; these fixed DER prefixes (RFC 8410) turn
// them into Node KeyObjects without going through PEM or JWK text.
const PKCS8_PREFIX = {
  ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
  x25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
};
const SPKI_PREFIX = {
  ed25519: Buffer.from('302a300506032b6570032100', 'hex'),
  x25519: Buffer.from('302a300506032b656e032100', 'hex'),
};

export type Curve = 'ed25519' | 'x25519';

export interface RawKeyPair {
  /** 32 bytes: the Ed25519 seed or the X25519 scalar */
  privateKey: Buffer;
  publicKey: Buffer;
}

export const privateKeyObject = (curve: Curve, raw: Uint8Array): KeyObject => {
  assertKey(raw, `${curve} private key`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX[curve], raw]), format: 'der', type: 'pkcs8' });
};

export const publicKeyObject = (curve: Curve, raw: Uint8Array): KeyObject => {
  assertKey(raw, `${curve} public key`);
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX[curve], raw]), format: 'der', type: 'spki' });
};

export const rawPublicKey = (key: KeyObject): Buffer => {
  const der = key.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.byteLength - 32));
};

export const publicFromPrivate = (curve: Curve, raw: Uint8Array): Buffer =>
  rawPublicKey(createPublicKey(privateKeyObject(curve, raw)));

export const generateRawKeyPair = (curve: Curve): RawKeyPair => {
  // Node types need a literal per overload.
  const { privateKey } = curve === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('x25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const raw = Buffer.from(der.subarray(der.byteLength - 32));
  return { privateKey: raw, publicKey: publicFromPrivate(curve, raw) };
};

/** Key id: SHA-256 of the raw public key; names a key in envelopes without carrying it. */
export const keyId = (publicKey: Uint8Array): Buffer => createHash('sha256').update(publicKey).digest();
