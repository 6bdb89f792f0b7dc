import { sign, verify } from 'node:crypto';
import { BadSignatureError } from './errors.ts';
import { privateKeyObject, publicKeyObject } from './raw-keys.ts';

export const SIGNATURE_BYTES = 64;

/** Ed25519 over label ‖ body: the label keeps a manifest signature from verifying as a grant. */
export const signWithLabel = (seed: Uint8Array, label: string, body: Uint8Array): Buffer =>
  sign(null, Buffer.concat([Buffer.from(label, 'latin1'), body]), privateKeyObject('ed25519', seed));

export const verifyWithLabel = (
  publicKey: Uint8Array,
  label: string,
  body: Uint8Array,
  signature: Uint8Array,
  what: string,
): void => {
  const ok =
    signature.byteLength === SIGNATURE_BYTES &&
    verify(null, Buffer.concat([Buffer.from(label, 'latin1'), body]), publicKeyObject('ed25519', publicKey), signature);
  if (!ok) throw new BadSignatureError(`${what}: signature does not verify under the expected key`);
};
