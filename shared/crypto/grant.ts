import { createHash } from 'node:crypto';
import { asBuffer, ByteReader, ByteWriter, checkMagic } from './bytes.ts';
import { decodeContext, describeContext, encodeContext, sameContext, type CryptoContext } from './context.ts';
import { DigestMismatchError, ExpiredError, MalformedError, UnsupportedVersionError, WrongContextError } from './errors.ts';
import { LABEL } from './kdf.ts';
import { keyId } from './raw-keys.ts';
import { SIGNATURE_BYTES, signWithLabel, verifyWithLabel } from './signatures.ts';

/**
 * A key server's statement that one target may install one release in one deployment, naming
 * by hash every artefact the target receives, so none can be swapped by the backend.
 */
export interface DeploymentGrant {
  /** purpose 'deployment-grant', with account, application, release, environment, deployment. */
  context: CryptoContext;
  /** The target agent's id as enrolled. */
  targetAgentId: string;
  /** SHA-256 of the target's X25519 public key (the key the deployment key is wrapped to). */
  targetKeyId: Buffer;
  /** SHA-256 of the signed release manifest. */
  manifestHash: Buffer;
  /** SHA-256 of the encrypted key list file. */
  keyListHash: Buffer;
  /** SHA-256 of the HPKE envelope holding the deployment key for this target. */
  wrappedKeyHash: Buffer;
  /** Milliseconds since the Unix epoch. */
  issuedAt: number;
  expiresAt: number;
  /** SHA-256 of the key server's Ed25519 public key. */
  signerKeyId: Buffer;
}

const MAGIC = Buffer.from('LKGR', 'ascii');
const FORMAT_VERSION = 1;

/**
 * Body: "LKGR" ‖ u8 1 ‖ u16 len ‖ context ‖ u16 len ‖ target agent id (UTF-8) ‖ target key id(32)
 * ‖ manifest hash(32) ‖ key list hash(32) ‖ wrapped key hash(32) ‖ u64 issuedAt ‖ u64 expiresAt ‖
 * signer key id(32). Signed grant = body ‖ Ed25519(label ‖ body).
 */
export const encodeGrant = (g: DeploymentGrant): Buffer => {
  if (g.context.purpose !== 'deployment-grant') throw new RangeError("grant context purpose must be 'deployment-grant'");
  if (g.targetAgentId.length === 0) throw new RangeError('targetAgentId must not be empty');
  return new ByteWriter()
    .bytes(MAGIC)
    .u8(FORMAT_VERSION)
    .prefixed16(encodeContext(g.context))
    .prefixed16(Buffer.from(g.targetAgentId, 'utf8'))
    .exact(g.targetKeyId, 32, 'target key id')
    .exact(g.manifestHash, 32, 'manifest hash')
    .exact(g.keyListHash, 32, 'key list hash')
    .exact(g.wrappedKeyHash, 32, 'wrapped key hash')
    .u64(g.issuedAt)
    .u64(g.expiresAt)
    .exact(g.signerKeyId, 32, 'signer key id')
    .finish();
};

export const decodeGrant = (body: Uint8Array): DeploymentGrant => {
  const r = new ByteReader(asBuffer(body), 'deployment grant');
  checkMagic(r.bytes(4), MAGIC, 'deployment grant');
  const version = r.u8();
  if (version !== FORMAT_VERSION) throw new UnsupportedVersionError(`deployment grant: unknown version ${version}`);
  const g: DeploymentGrant = {
    context: decodeContext(r.prefixed16()),
    targetAgentId: r.prefixed16().toString('utf8'),
    targetKeyId: Buffer.from(r.bytes(32)),
    manifestHash: Buffer.from(r.bytes(32)),
    keyListHash: Buffer.from(r.bytes(32)),
    wrappedKeyHash: Buffer.from(r.bytes(32)),
    issuedAt: r.u64(),
    expiresAt: r.u64(),
    signerKeyId: Buffer.from(r.bytes(32)),
  };
  r.end();
  return g;
};

export type UnsignedGrant = Omit<DeploymentGrant, 'signerKeyId'>;

export const signGrant = (grant: UnsignedGrant, signer: { privateKey: Uint8Array; publicKey: Uint8Array }): Buffer => {
  const body = encodeGrant({ ...grant, signerKeyId: keyId(signer.publicKey) });
  return Buffer.concat([body, signWithLabel(signer.privateKey, LABEL.grantSignature, body)]);
};

export interface GrantExpectations {
  context: CryptoContext;
  /** This target's own agent id. */
  targetAgentId: string;
  /** This target's X25519 public key. */
  targetPublicKey: Uint8Array;
  /** The artefacts as received; each must hash to what the grant names. */
  manifest: Uint8Array;
  keyList: Uint8Array;
  wrappedKey: Uint8Array;
  /** Current time in ms (injected: shared/ takes its clock from the caller). */
  now: number;
}

const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

/**
 * Verifies a signed grant under the key server's Ed25519 key and checks it against what the
 * target actually received. Throws BadSignatureError, WrongContextError, ExpiredError or
 * DigestMismatchError (a target or artefact other than the one granted).
 */
export const verifyGrant = (signed: Uint8Array, signerPublicKey: Uint8Array, expect: GrantExpectations): DeploymentGrant => {
  const buf = asBuffer(signed);
  if (buf.byteLength <= SIGNATURE_BYTES) throw new MalformedError('deployment grant: too short');
  const body = buf.subarray(0, buf.byteLength - SIGNATURE_BYTES);
  verifyWithLabel(signerPublicKey, LABEL.grantSignature, body, buf.subarray(body.byteLength), 'deployment grant');
  const g = decodeGrant(body);
  if (!sameContext(g.context, expect.context)) {
    throw new WrongContextError(`deployment grant is for ${describeContext(g.context)}`);
  }
  const mismatch = (what: string): never => {
    throw new DigestMismatchError(`deployment grant names another ${what}`);
  };
  if (g.targetAgentId !== expect.targetAgentId) mismatch('target agent');
  if (!g.targetKeyId.equals(keyId(expect.targetPublicKey))) mismatch('target key');
  if (!g.manifestHash.equals(sha256(expect.manifest))) mismatch('release manifest');
  if (!g.keyListHash.equals(sha256(expect.keyList))) mismatch('key list');
  if (!g.wrappedKeyHash.equals(sha256(expect.wrappedKey))) mismatch('wrapped deployment key');
  if (expect.now >= g.expiresAt) throw new ExpiredError('deployment grant has expired');
  return g;
};
