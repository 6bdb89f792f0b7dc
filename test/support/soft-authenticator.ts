import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type { PasskeyCredential } from '#shared/protocol/passkeys.ts';
import type { PasskeyAssertion } from '#shared/protocol/passkeys.ts';

/**
 * A WebAuthn authenticator in software, for tests that need assertions without a browser (the
 * browser tests use Chromium's virtual authenticator instead): an ES256 or Ed25519 credential, and
 * assertions over any challenge, origin and RP ID, with the flags and counter a test chooses —
 * so attack tests can make exactly one thing wrong.
 */
export type SoftAuthenticator = {
  /** The private key as PKCS#8 DER: to hand the same credential to Chromium's virtual authenticator. */
  pkcs8: Buffer;
  credential: (where: { origin: string; rpId: string }) => PasskeyCredential;
  assert: (options: { challenge: string; origin: string; rpId: string; userVerified?: boolean; userPresent?: boolean; counter?: number; type?: string }) => PasskeyAssertion;
};

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;

const coseKeyOf = (algorithm: -7 | -8, publicKey: KeyObject): Uint8Array => {
  const jwk = publicKey.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x!, 'base64url');
  // COSE_Key labels: 1 kty, 3 alg, -1 crv, -2 x, -3 y (RFC 9053).
  const key =
    algorithm === -7
      ? new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, x], [-3, Buffer.from(jwk.y!, 'base64url')]])
      : new Map<number, number | Uint8Array>([[1, 1], [3, -8], [-1, 6], [-2, x]]);
  return isoCBOR.encode(key);
};

export const softAuthenticator = (algorithm: -7 | -8 = -7): SoftAuthenticator => {
  const { publicKey, privateKey } = algorithm === -7 ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const credentialId = randomBytes(32).toString('base64url');
  let counter = 0;
  return {
    pkcs8: privateKey.export({ format: 'der', type: 'pkcs8' }),
    credential: ({ origin, rpId }) => ({ credentialId, publicKey: Buffer.from(coseKeyOf(algorithm, publicKey)).toString('base64url'), algorithm, origin, rpId }),
    assert: (options) => {
      counter = options.counter ?? counter + 1;
      const flags = (options.userPresent === false ? 0 : FLAG_UP) | (options.userVerified === false ? 0 : FLAG_UV);
      const count = Buffer.alloc(4);
      count.writeUInt32BE(counter);
      const authenticatorData = Buffer.concat([createHash('sha256').update(options.rpId).digest(), Buffer.from([flags]), count]);
      const clientDataJSON = Buffer.from(JSON.stringify({ type: options.type ?? 'webauthn.get', challenge: options.challenge, origin: options.origin, crossOrigin: false }));
      const signed = Buffer.concat([authenticatorData, createHash('sha256').update(clientDataJSON).digest()]);
      const signature = algorithm === -7 ? sign('sha256', signed, privateKey) : sign(null, signed, privateKey);
      return {
        id: credentialId,
        rawId: credentialId,
        type: 'public-key',
        response: { clientDataJSON: clientDataJSON.toString('base64url'), authenticatorData: authenticatorData.toString('base64url'), signature: signature.toString('base64url') },
        clientExtensionResults: {},
      };
    },
  };
};
