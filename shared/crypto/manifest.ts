import { createHash } from 'node:crypto';
import { asBuffer, ByteReader, ByteWriter, checkMagic } from './bytes.ts';
import { decodeContext, describeContext, encodeContext, sameContext, type CryptoContext } from './context.ts';
import { MalformedError, UnsupportedVersionError, WrongContextError } from './errors.ts';
import { LABEL } from './kdf.ts';
import { keyId } from './raw-keys.ts';
import { SIGNATURE_BYTES, signWithLabel, verifyWithLabel } from './signatures.ts';

/**
 * How the release's plaintext is packed: a tar archive, as is or compressed. Push writes
 * 'tar+brotli' (quality 1: faster than gzip's fastest level on text, about as fast as a copy on
 * incompressible data, and Node has it on every version we run on, with no native build);
 * 'tar+gzip' is every release before manifest version 4. The byte in the manifest is the index.
 */
export const ARCHIVE_CODECS = ['tar', 'tar+gzip', 'tar+brotli'] as const;
export type ArchiveCodec = (typeof ARCHIVE_CODECS)[number];

/** What the pusher signs about one release file; targets check the file against it. */
export interface ReleaseManifest {
  /** The release context (purpose 'release'), equal to the one in the file header. */
  context: CryptoContext;
  segmentSize: number;
  plaintextSize: number;
  ciphertextSize: number;
  /** SHA-256 of the release header bytes (which carry the key commitment). */
  headerHash: Buffer;
  /**
   * The release file's digest (docs/release-format.md §3.5; for a plain release, the SHA-256 of
   * the archive itself). With the committed key and the per-segment tags it also fixes the
   * plaintext: §7.
   */
  fileDigest: Buffer;
  /** How the plaintext is packed; signed, so the backend cannot make a target read it otherwise. */
  codec: ArchiveCodec;
  /** SHA-256 of the signer's Ed25519 public key (tells a verifier which key to use). */
  signerKeyId: Buffer;
}

const MAGIC = Buffer.from('LKMF', 'ascii');
/**
 * v2 dropped the plaintext digest; v3 signs the release digest instead of one SHA-256; v4 names
 * the archive codec (docs/release-format.md §10). Version 3 is still read: its archives are
 * tar+gzip, so releases pushed before v4 still deploy.
 */
const FORMAT_VERSION = 4;
const GZIP_ONLY_VERSION = 3;

/**
 * Body: "LKMF" ‖ u8 4 ‖ u16 len ‖ context ‖ u32 segment size ‖ u64 plaintext size ‖
 * u64 ciphertext size ‖ u8 codec ‖ header hash(32) ‖ file digest(32) ‖ signer key id(32).
 * Signed manifest = body ‖ Ed25519(label ‖ body) (64 bytes).
 */
export const encodeManifest = (m: ReleaseManifest): Buffer =>
  new ByteWriter()
    .bytes(MAGIC)
    .u8(FORMAT_VERSION)
    .prefixed16(encodeContext(m.context))
    .u32(m.segmentSize)
    .u64(m.plaintextSize)
    .u64(m.ciphertextSize)
    .u8(ARCHIVE_CODECS.indexOf(m.codec))
    .exact(m.headerHash, 32, 'header hash')
    .exact(m.fileDigest, 32, 'file digest')
    .exact(m.signerKeyId, 32, 'signer key id')
    .finish();

const codecOf = (byte: number): ArchiveCodec => {
  const codec = ARCHIVE_CODECS[byte];
  if (codec === undefined) throw new UnsupportedVersionError(`release manifest: unknown archive codec ${byte}`);
  return codec;
};

export const decodeManifest = (body: Uint8Array): ReleaseManifest => {
  const r = new ByteReader(asBuffer(body), 'release manifest');
  checkMagic(r.bytes(4), MAGIC, 'release manifest');
  const version = r.u8();
  if (version !== FORMAT_VERSION && version !== GZIP_ONLY_VERSION) throw new UnsupportedVersionError(`release manifest: unknown version ${version}`);
  const m: ReleaseManifest = {
    context: decodeContext(r.prefixed16()),
    segmentSize: r.u32(),
    plaintextSize: r.u64(),
    ciphertextSize: r.u64(),
    codec: version === GZIP_ONLY_VERSION ? 'tar+gzip' : codecOf(r.u8()),
    headerHash: Buffer.from(r.bytes(32)),
    fileDigest: Buffer.from(r.bytes(32)),
    signerKeyId: Buffer.from(r.bytes(32)),
  };
  r.end();
  return m;
};

/** Fields the encrypter returns (and the codec, which the packer knows), minus the signer: see encryptRelease. */
export type UnsignedManifest = Omit<ReleaseManifest, 'signerKeyId' | 'codec'> & { codec?: ArchiveCodec };

/** Signs a manifest; without a codec the archive is tar+gzip, as every archive was before version 4. */
export const signManifest = (manifest: UnsignedManifest, signer: { privateKey: Uint8Array; publicKey: Uint8Array }): Buffer => {
  const body = encodeManifest({ ...manifest, codec: manifest.codec ?? 'tar+gzip', signerKeyId: keyId(signer.publicKey) });
  return Buffer.concat([body, signWithLabel(signer.privateKey, LABEL.manifestSignature, body)]);
};

/**
 * Verifies a signed manifest under the pusher's Ed25519 public key and, when given, that it is
 * for `expectedContext`. Throws BadSignatureError / WrongContextError / MalformedError.
 */
export const verifyManifest = (
  signed: Uint8Array,
  signerPublicKey: Uint8Array,
  expectedContext?: CryptoContext,
): ReleaseManifest => {
  const buf = asBuffer(signed);
  if (buf.byteLength <= SIGNATURE_BYTES) throw new MalformedError('release manifest: too short');
  const body = buf.subarray(0, buf.byteLength - SIGNATURE_BYTES);
  verifyWithLabel(signerPublicKey, LABEL.manifestSignature, body, buf.subarray(body.byteLength), 'release manifest');
  const m = decodeManifest(body);
  if (expectedContext && !sameContext(m.context, expectedContext)) {
    throw new WrongContextError(`release manifest is for ${describeContext(m.context)}, not ${describeContext(expectedContext)}`);
  }
  return m;
};

/** SHA-256 of the signed manifest bytes: what a deployment grant names. */
export const manifestHash = (signed: Uint8Array): Buffer => createHash('sha256').update(signed).digest();

