import { createHash } from 'node:crypto';
import { MalformedError } from './errors.ts';

/**
 * What a ciphertext, wrap or signature is for. Each purpose is a separate key domain: a wrapped
 * release key can never be presented as a wrapped deployment key, even with the same ids.
 */
export type Purpose =
  | 'release' // the release payload (release file header) and its manifest
  | 'release-key' // a release key wrapped to a key server or under the master key
  | 'deployment-key' // a deployment key wrapped under the master key or to a target
  | 'key-list' // the key list file encrypted under a deployment key
  | 'master-key' // the account master key wrapped to a key server
  | 'deployment-grant'; // a key server's signed grant for one target

const PURPOSES: ReadonlySet<string> = new Set<Purpose>([
  'release',
  'release-key',
  'deployment-key',
  'key-list',
  'master-key',
  'deployment-grant',
]);

/** The ids a piece of key material is bound to. Absent fields are omitted from the encoding. */
export interface CryptoContext {
  account: string;
  purpose: Purpose;
  application?: string;
  release?: string;
  environment?: string;
  deployment?: string;
  /** Master key version the object is wrapped under (unsigned 32-bit). */
  keyVersion?: number;
}

// Wire names, in the byte order the encoding sorts them (checked at module load below).
const FIELDS = [
  ['account', 'account'],
  ['application', 'application'],
  ['deployment', 'deployment'],
  ['environment', 'environment'],
  ['key-version', 'keyVersion'],
  ['purpose', 'purpose'],
  ['release', 'release'],
] as const satisfies ReadonlyArray<readonly [string, keyof CryptoContext]>;

for (let i = 1; i < FIELDS.length; i++) {
  if (Buffer.compare(Buffer.from(FIELDS[i - 1]![0]), Buffer.from(FIELDS[i]![0])) >= 0) {
    throw new Error('context field table is not in byte order');
  }
}

/**
 * Node's HKDF refuses info longer than 1024 bytes and the context is part of HKDF info (after a
 * label of at most 64 bytes), so the whole encoding is capped well below that.
 */
export const MAX_CONTEXT_BYTES = 896;

const utf8 = new TextDecoder('utf-8', { fatal: true });

const valueOf = (ctx: CryptoContext, key: keyof CryptoContext): string | undefined => {
  const v = ctx[key];
  if (v === undefined) return undefined;
  if (key === 'keyVersion') {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new RangeError('context keyVersion must be an unsigned 32-bit integer');
    }
    return String(v);
  }
  if (typeof v !== 'string' || v.length === 0) throw new RangeError(`context ${key} must be a non-empty string`);
  // A lone surrogate would be silently replaced by U+FFFD and two contexts could collide.
  if (Buffer.from(v, 'utf8').toString('utf8') !== v) throw new RangeError(`context ${key} is not well-formed Unicode`);
  return v;
};

/**
 * Canonical context encoding: u8 pair count, then for each present field in byte order of its
 * name: u8 name length, name (ASCII), u16 BE value length, value (UTF-8). Unlike JSON it has one
 * byte string per context, so it can be AAD and HKDF info without a canonicalisation step.
 */
export const encodeContext = (ctx: CryptoContext): Buffer => {
  if (!PURPOSES.has(ctx.purpose)) throw new RangeError(`unknown context purpose: ${String(ctx.purpose)}`);
  const parts: Buffer[] = [];
  let count = 0;
  for (const [wire, key] of FIELDS) {
    const value = valueOf(ctx, key);
    if (value === undefined) continue;
    const name = Buffer.from(wire, 'ascii');
    const val = Buffer.from(value, 'utf8');
    const len = Buffer.allocUnsafe(2);
    len.writeUInt16BE(val.byteLength);
    parts.push(Buffer.from([name.byteLength]), name, len, val);
    count++;
  }
  const out = Buffer.concat([Buffer.from([count]), ...parts]);
  if (out.byteLength > MAX_CONTEXT_BYTES) throw new RangeError(`context encodes to more than ${MAX_CONTEXT_BYTES} bytes`);
  return out;
};

/** Strict inverse of encodeContext: anything that would not re-encode to the same bytes is malformed. */
export const decodeContext = (bytes: Uint8Array): CryptoContext => {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (why: string): never => {
    throw new MalformedError(`context: ${why}`);
  };
  if (buf.byteLength === 0 || buf.byteLength > MAX_CONTEXT_BYTES) fail('bad length');
  const count = buf[0]!;
  let off = 1;
  const out: Record<string, string | number> = {};
  for (let i = 0; i < count; i++) {
    if (off + 1 > buf.byteLength) fail('too short');
    const nameLen = buf[off]!;
    off += 1;
    if (off + nameLen + 2 > buf.byteLength) fail('too short');
    const wire = buf.toString('latin1', off, off + nameLen);
    off += nameLen;
    const valLen = buf.readUInt16BE(off);
    off += 2;
    if (off + valLen > buf.byteLength) fail('too short');
    let value: string;
    try {
      value = utf8.decode(buf.subarray(off, off + valLen));
    } catch {
      return fail('value is not UTF-8');
    }
    off += valLen;
    const field = FIELDS.find(([w]) => w === wire);
    if (!field) return fail(`unknown field ${JSON.stringify(wire)}`);
    if (field[1] in out) fail('duplicate field');
    if (field[1] === 'keyVersion') {
      if (!/^(0|[1-9][0-9]{0,9})$/.test(value)) fail('key-version is not a decimal integer');
      out.keyVersion = Number(value);
    } else {
      out[field[1]] = value;
    }
  }
  if (off !== buf.byteLength) fail('trailing bytes');
  if (typeof out.account !== 'string' || typeof out.purpose !== 'string') fail('account and purpose are required');
  const ctx = out as unknown as CryptoContext;
  let again: Buffer;
  try {
    again = encodeContext(ctx);
  } catch (e) {
    return fail((e as Error).message);
  }
  if (!again.equals(buf)) fail('not canonical');
  return ctx;
};

/** SHA-256 of the canonical encoding; stored in envelopes so a mismatch reads as wrong-context. */
export const contextHash = (ctx: CryptoContext | Uint8Array): Buffer =>
  createHash('sha256')
    .update(ctx instanceof Uint8Array ? ctx : encodeContext(ctx))
    .digest();

export const sameContext = (a: CryptoContext, b: CryptoContext): boolean => encodeContext(a).equals(encodeContext(b));

/** Human description for error messages (ids are not secret). */
export const describeContext = (ctx: CryptoContext): string =>
  FIELDS.filter(([, k]) => ctx[k] !== undefined)
    .map(([w, k]) => `${w}=${String(ctx[k])}`)
    .join(' ');
