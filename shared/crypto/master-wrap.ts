import { randomBytes } from 'node:crypto';
import { asBuffer, ByteReader, ByteWriter, checkMagic } from './bytes.ts';
import { contextHash, describeContext, type CryptoContext } from './context.ts';
import { UnsupportedVersionError, WrongContextError, WrongKeyError } from './errors.ts';
import { assertKey, KEY_BYTES, LABEL, SALT_BYTES } from './kdf.ts';
import { open, seal } from './sealed-box.ts';

/** The account master key and its version; the version names which master key opens a wrap. */
export interface MasterKey {
  version: number;
  key: Uint8Array;
}

export const generateMasterKey = (version: number): MasterKey => {
  checkVersion(version);
  return { version, key: randomBytes(KEY_BYTES) };
};

const MAGIC = Buffer.from('LKMW', 'ascii');
const FORMAT_VERSION = 1;

const checkVersion = (v: number): void => {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError('master key version must be u32');
};

/**
 * Wraps a secret (a release or deployment key) under the master key. The context must carry the
 * master key version as keyVersion, so a wrap cannot be presented as made under another version.
 *
 * Envelope: "LKMW" ‖ u8 1 ‖ u32 master version ‖ SHA-256(context) ‖ salt(32) ‖ ct ‖ tag(16).
 */
export const wrapUnderMaster = (master: MasterKey, context: CryptoContext, secret: Uint8Array): Buffer =>
  wrapUnderMasterWithSalt(master, context, secret, randomBytes(SALT_BYTES));

/** @internal fixed salt for test vectors only. */
export const wrapUnderMasterWithSalt = (
  master: MasterKey,
  context: CryptoContext,
  secret: Uint8Array,
  salt: Uint8Array,
): Buffer => {
  assertKey(master.key, 'master key');
  checkVersion(master.version);
  if (context.keyVersion !== master.version) {
    throw new RangeError('context keyVersion must equal the master key version');
  }
  const { sealed } = seal(master.key, LABEL.masterWrap, context, secret, salt);
  return new ByteWriter()
    .bytes(MAGIC)
    .u8(FORMAT_VERSION)
    .u32(master.version)
    .bytes(contextHash(context))
    .bytes(salt)
    .bytes(sealed)
    .finish();
};

/** Reads the master key version a wrap needs, so a key server can pick the right master key. */
export const masterVersionOf = (wrapped: Uint8Array): number => parse(wrapped).version;

const parse = (wrapped: Uint8Array) => {
  const r = new ByteReader(asBuffer(wrapped), 'master wrap');
  checkMagic(r.bytes(4), MAGIC, 'master wrap');
  const format = r.u8();
  if (format !== FORMAT_VERSION) throw new UnsupportedVersionError(`master wrap: unknown format version ${format}`);
  return { version: r.u32(), ctxHash: r.bytes(32), salt: r.bytes(SALT_BYTES), sealed: r.rest() };
};

export const unwrapUnderMaster = (master: MasterKey, context: CryptoContext, wrapped: Uint8Array): Buffer => {
  assertKey(master.key, 'master key');
  const w = parse(wrapped);
  if (w.version !== master.version) {
    throw new WrongKeyError(`master wrap needs master key version ${w.version}, got version ${master.version}`);
  }
  if (context.keyVersion !== w.version || !contextHash(context).equals(w.ctxHash)) {
    throw new WrongContextError(`master wrap was not made for ${describeContext(context)}`);
  }
  return open(master.key, LABEL.masterWrap, context, w.salt, w.sealed, 'master wrap');
};
