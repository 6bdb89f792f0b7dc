import { keyId, type UnsignedManifest } from '#shared/crypto/index.ts';
import { LABEL } from '#shared/crypto/kdf.ts';
import { encodeManifest } from '#shared/crypto/manifest.ts';
import { signWithLabel } from '#shared/crypto/signatures.ts';

/**
 * A manifest signed as the CLI before manifest version 4 signed it (docs/release-format.md §7,
 * §10): version 3 is version 4 without the codec byte after the ciphertext size, and its archive
 * is always tar+gzip. Written here, not in shared/, because nothing we ship writes it any more.
 */
export const signManifestV3 = (manifest: UnsignedManifest, signer: { privateKey: Uint8Array; publicKey: Uint8Array }): Buffer => {
  const v4 = encodeManifest({ ...manifest, codec: 'tar+gzip', signerKeyId: keyId(signer.publicKey) });
  const codecAt = 7 + v4.readUInt16BE(5) + 4 + 8 + 8;
  const body = Buffer.concat([v4.subarray(0, codecAt), v4.subarray(codecAt + 1)]);
  body[4] = 3;
  return Buffer.concat([body, signWithLabel(signer.privateKey, LABEL.manifestSignature, body)]);
};
