import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, open, readFile, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ByteReader, ByteWriter, checkMagic } from './bytes.ts';
import { InsecureKeyFileError, MalformedError, UnsupportedVersionError } from './errors.ts';
import { generateRawKeyPair, keyId, publicFromPrivate, type RawKeyPair } from './raw-keys.ts';

/** An agent's two key pairs: never one key for both jobs. */
export interface AgentKeys {
  /** X25519: receives HPKE-wrapped keys. */
  encryption: RawKeyPair;
  /** Ed25519: signs grants (key server) and session challenges. */
  signing: RawKeyPair;
}

/** What leaves the machine at enrolment. */
export interface AgentPublicKeys {
  encryption: Buffer;
  signing: Buffer;
  encryptionKeyId: Buffer;
  signingKeyId: Buffer;
}

export const generateAgentKeys = (): AgentKeys => ({
  encryption: generateRawKeyPair('x25519'),
  signing: generateRawKeyPair('ed25519'),
});

export const agentPublicKeys = (keys: AgentKeys): AgentPublicKeys => ({
  encryption: Buffer.from(keys.encryption.publicKey),
  signing: Buffer.from(keys.signing.publicKey),
  encryptionKeyId: keyId(keys.encryption.publicKey),
  signingKeyId: keyId(keys.signing.publicKey),
});

// Same PNG-style magic scheme as the release file, with "LKA" for agent.
const MAGIC = Buffer.from([0x89, 0x4c, 0x4b, 0x41, 0x0d, 0x0a, 0x1a, 0x0a]);
const FORMAT_VERSION = 1;
export const AGENT_KEY_FILE_BYTES = 8 + 1 + 4 * 32 + 32;

/**
 * magic(8) ‖ u8 1 ‖ X25519 private(32) ‖ X25519 public(32) ‖ Ed25519 seed(32) ‖ Ed25519
 * public(32) ‖ SHA-256 of everything before it. The checksum catches a corrupted or truncated
 * file before it produces keys that silently fail to unwrap anything.
 */
export const encodeAgentKeyFile = (keys: AgentKeys): Buffer => {
  const body = new ByteWriter()
    .bytes(MAGIC)
    .u8(FORMAT_VERSION)
    .exact(keys.encryption.privateKey, 32, 'X25519 private key')
    .exact(keys.encryption.publicKey, 32, 'X25519 public key')
    .exact(keys.signing.privateKey, 32, 'Ed25519 seed')
    .exact(keys.signing.publicKey, 32, 'Ed25519 public key')
    .finish();
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
};

export const decodeAgentKeyFile = (file: Uint8Array): AgentKeys => {
  const buf = Buffer.from(file);
  if (buf.byteLength !== AGENT_KEY_FILE_BYTES) throw new MalformedError('agent key file: wrong length');
  const body = buf.subarray(0, buf.byteLength - 32);
  if (!timingSafeEqual(createHash('sha256').update(body).digest(), buf.subarray(body.byteLength))) {
    throw new MalformedError('agent key file: checksum mismatch (corrupted file)');
  }
  const r = new ByteReader(body, 'agent key file');
  checkMagic(r.bytes(8), MAGIC, 'agent key file');
  const version = r.u8();
  if (version !== FORMAT_VERSION) throw new UnsupportedVersionError(`agent key file: unknown version ${version}`);
  const keys: AgentKeys = {
    encryption: { privateKey: Buffer.from(r.bytes(32)), publicKey: Buffer.from(r.bytes(32)) },
    signing: { privateKey: Buffer.from(r.bytes(32)), publicKey: Buffer.from(r.bytes(32)) },
  };
  // The public halves are stored for convenience; they must be the ones the private halves give.
  if (
    !publicFromPrivate('x25519', keys.encryption.privateKey).equals(keys.encryption.publicKey) ||
    !publicFromPrivate('ed25519', keys.signing.privateKey).equals(keys.signing.publicKey)
  ) {
    throw new MalformedError('agent key file: public keys do not match private keys');
  }
  return keys;
};

/** Writes a new key file with mode 0600; refuses to replace an existing one. */
export const saveAgentKeys = async (path: string, keys: AgentKeys): Promise<void> => {
  // Written whole under a temporary name, then hard-linked: link() fails with EEXIST if the
  // key file exists, so an agent's keys are never overwritten, and never seen half-written.
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.partial`);
  const fh = await open(temp, 'wx', 0o600);
  try {
    await fh.chmod(0o600); // open's mode is filtered by the umask; make it exact
    await fh.writeFile(encodeAgentKeyFile(keys));
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    await link(temp, path);
  } finally {
    await unlink(temp);
  }
};

/** Loads a key file, refusing one that group or others can read or write (like ssh does). */
export const loadAgentKeys = async (path: string): Promise<AgentKeys> => {
  const { mode } = await stat(path);
  if ((mode & 0o077) !== 0) {
    throw new InsecureKeyFileError(
      `agent key file ${path} has mode ${(mode & 0o777).toString(8)}; run: chmod 600 ${path}`,
    );
  }
  return decodeAgentKeyFile(await readFile(path));
};
