import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { asBuffer, ByteReader, ByteWriter, checkMagic } from './bytes.ts';
import { contextHash, describeContext, encodeContext, type CryptoContext } from './context.ts';
import { UnsupportedVersionError, WrongContextError, WrongKeyError } from './errors.ts';
import { assertKey } from './kdf.ts';
import { keyId, publicFromPrivate } from './raw-keys.ts';

/**
 * RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM. @hpke/core ships
 * this KEM itself (on Node's WebCrypto X25519), so no @hpke/dhkem-x25519 is needed.
 */
const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });

const MAGIC = Buffer.from('LKHP', 'ascii');
const FORMAT_VERSION = 1;
const KEM_ID = 0x0020;
const KDF_ID = 0x0001;
const AEAD_ID = 0x0002;
const ENC_BYTES = 32;
/** magic ‖ version ‖ 3 suite ids ‖ recipient key id ‖ context hash ‖ enc */
const HEADER_BYTES = 4 + 1 + 6 + 32 + 32 + ENC_BYTES;

/**
 * Wraps `secret` to an agent's X25519 public key. info = canonical context; AAD = the envelope
 * header, so the suite ids and the recipient key id cannot be edited without failing the tag.
 *
 * Envelope: "LKHP" ‖ u8 1 ‖ u16 kem ‖ u16 kdf ‖ u16 aead ‖ SHA-256(recipient public key) ‖
 * SHA-256(context) ‖ enc(32) ‖ ct ‖ tag(16).
 */
export const hpkeWrap = (recipientPublicKey: Uint8Array, context: CryptoContext, secret: Uint8Array): Promise<Buffer> =>
  hpkeWrapWithEphemeral(recipientPublicKey, context, secret, undefined);

/** @internal `ephemeralSeed` fixes the sender's ephemeral key: test vectors only. */
export const hpkeWrapWithEphemeral = async (
  recipientPublicKey: Uint8Array,
  context: CryptoContext,
  secret: Uint8Array,
  ephemeralSeed: Uint8Array | undefined,
): Promise<Buffer> => {
  assertKey(recipientPublicKey, 'recipient public key');
  const info = encodeContext(context);
  const pk = await suite.kem.deserializePublicKey(recipientPublicKey);
  const ctx = await suite.createSenderContext({
    recipientPublicKey: pk,
    info,
    ...(ephemeralSeed ? { ekm: ephemeralSeed } : {}),
  });
  const enc = Buffer.from(ctx.enc);
  const header = new ByteWriter()
    .bytes(MAGIC)
    .u8(FORMAT_VERSION)
    .u16(KEM_ID)
    .u16(KDF_ID)
    .u16(AEAD_ID)
    .bytes(keyId(recipientPublicKey))
    .bytes(contextHash(info))
    .exact(enc, ENC_BYTES, 'enc')
    .finish();
  const ct = Buffer.from(await ctx.seal(secret, header));
  return Buffer.concat([header, ct]);
};

/** Recipient key id named by an envelope: lets an agent with several keys pick the right one. */
export const hpkeRecipientKeyId = (envelope: Uint8Array): Buffer => parse(envelope).recipient;

const parse = (envelope: Uint8Array) => {
  const buf = asBuffer(envelope);
  const r = new ByteReader(buf, 'HPKE wrap');
  checkMagic(r.bytes(4), MAGIC, 'HPKE wrap');
  const format = r.u8();
  if (format !== FORMAT_VERSION) throw new UnsupportedVersionError(`HPKE wrap: unknown format version ${format}`);
  if (r.u16() !== KEM_ID || r.u16() !== KDF_ID || r.u16() !== AEAD_ID) {
    throw new UnsupportedVersionError('HPKE wrap: unsupported cipher suite');
  }
  const recipient = r.bytes(32);
  const ctxHash = r.bytes(32);
  const enc = r.bytes(ENC_BYTES);
  return { header: buf.subarray(0, HEADER_BYTES), recipient, ctxHash, enc, ct: r.rest() };
};

export const hpkeUnwrap = async (
  recipientPrivateKey: Uint8Array,
  context: CryptoContext,
  envelope: Uint8Array,
): Promise<Buffer> => {
  assertKey(recipientPrivateKey, 'recipient private key');
  const e = parse(envelope);
  const info = encodeContext(context);
  if (!keyId(publicFromPrivate('x25519', recipientPrivateKey)).equals(e.recipient)) {
    throw new WrongKeyError('HPKE wrap is addressed to another key');
  }
  if (!contextHash(info).equals(e.ctxHash)) {
    throw new WrongContextError(`HPKE wrap was not made for ${describeContext(context)}`);
  }
  const sk = await suite.kem.deserializePrivateKey(recipientPrivateKey);
  try {
    const ctx = await suite.createRecipientContext({ recipientKey: sk, enc: e.enc, info });
    return Buffer.from(await ctx.open(e.ct, e.header));
  } catch {
    throw new WrongKeyError('HPKE wrap: authentication failed (wrong key, or the envelope was altered)');
  }
};
