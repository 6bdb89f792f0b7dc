import { randomBytes } from 'node:crypto';
import { asBuffer, ByteReader, ByteWriter, checkMagic } from './bytes.ts';
import { contextHash, decodeContext, describeContext, encodeContext, type CryptoContext } from './context.ts';
import { MalformedError, UnsupportedVersionError, WrongContextError } from './errors.ts';
import { KEY_BYTES, LABEL, SALT_BYTES } from './kdf.ts';
import { open, seal } from './sealed-box.ts';

/** One release a target may decrypt: its key and the digests that pin the exact file. */
export interface KeyListEntry {
  /** The release context (purpose 'release'). */
  context: CryptoContext;
  releaseKey: Uint8Array;
  /** SHA-256 of the release header (manifest headerHash). */
  headerHash: Uint8Array;
  /** The release file's digest (manifest fileDigest, docs/release-format.md §3.5). */
  fileDigest: Uint8Array;
}

/** v2: the digest is the release digest of §3.5 (v1: one SHA-256 of the file). */
const BODY_VERSION = 2;
const FILE_MAGIC = Buffer.from('LKKL', 'ascii');
const FILE_VERSION = 1;

/**
 * Plaintext: u8 2 ‖ u16 count ‖ per entry: u16 len ‖ context ‖ key(32) ‖ header hash(32) ‖
 * file digest(32). Entries keep the order given.
 */
export const encodeKeyList = (entries: readonly KeyListEntry[]): Buffer => {
  const w = new ByteWriter().u8(BODY_VERSION).u16(entries.length);
  for (const e of entries) {
    w.prefixed16(encodeContext(e.context))
      .exact(e.releaseKey, KEY_BYTES, 'release key')
      .exact(e.headerHash, 32, 'header hash')
      .exact(e.fileDigest, 32, 'file digest');
  }
  return w.finish();
};

export const decodeKeyList = (body: Uint8Array): KeyListEntry[] => {
  const r = new ByteReader(asBuffer(body), 'key list');
  const version = r.u8();
  if (version !== BODY_VERSION) throw new UnsupportedVersionError(`key list: unknown version ${version}`);
  const count = r.u16();
  const entries: KeyListEntry[] = [];
  for (let i = 0; i < count; i++) {
    entries.push({
      context: decodeContext(r.prefixed16()),
      releaseKey: Buffer.from(r.bytes(KEY_BYTES)),
      headerHash: Buffer.from(r.bytes(32)),
      fileDigest: Buffer.from(r.bytes(32)),
    });
  }
  r.end();
  return entries;
};

/**
 * Encrypted key list file: "LKKL" ‖ u8 1 ‖ SHA-256(context) ‖ salt(32) ‖ ct ‖ tag(16), with
 * key = HKDF-SHA256(deployment key, salt, label ‖ context), zero nonce, AAD = context
 * (purpose 'key-list', naming the deployment).
 */
export const sealKeyList = (deploymentKey: Uint8Array, context: CryptoContext, entries: readonly KeyListEntry[]): Buffer =>
  sealKeyListWithSalt(deploymentKey, context, entries, randomBytes(SALT_BYTES));

/** @internal fixed salt for test vectors only. */
export const sealKeyListWithSalt = (
  deploymentKey: Uint8Array,
  context: CryptoContext,
  entries: readonly KeyListEntry[],
  salt: Uint8Array,
): Buffer => {
  if (context.purpose !== 'key-list') throw new RangeError("key list context purpose must be 'key-list'");
  const { sealed } = seal(deploymentKey, LABEL.keyList, context, encodeKeyList(entries), salt);
  return new ByteWriter().bytes(FILE_MAGIC).u8(FILE_VERSION).bytes(contextHash(context)).bytes(salt).bytes(sealed).finish();
};

export const openKeyList = (deploymentKey: Uint8Array, context: CryptoContext, file: Uint8Array): KeyListEntry[] => {
  const r = new ByteReader(asBuffer(file), 'key list file');
  checkMagic(r.bytes(4), FILE_MAGIC, 'key list file');
  const version = r.u8();
  if (version !== FILE_VERSION) throw new UnsupportedVersionError(`key list file: unknown version ${version}`);
  const ctxHash = r.bytes(32);
  const salt = r.bytes(SALT_BYTES);
  if (!contextHash(context).equals(ctxHash)) {
    throw new WrongContextError(`key list was not made for ${describeContext(context)}`);
  }
  const body = open(deploymentKey, LABEL.keyList, context, salt, r.rest(), 'key list file');
  try {
    return decodeKeyList(body);
  } finally {
    body.fill(0);
  }
};

/** Finds the entry for one release context; a target asks only for the release it installs. */
export const findRelease = (entries: readonly KeyListEntry[], release: CryptoContext): KeyListEntry => {
  const want = encodeContext(release);
  const hit = entries.find((e) => encodeContext(e.context).equals(want));
  if (!hit) throw new MalformedError(`key list has no entry for ${describeContext(release)}`);
  return hit;
};
