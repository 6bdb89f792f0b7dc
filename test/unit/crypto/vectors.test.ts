import { createCipheriv, createDecipheriv, createHash, createPublicKey, hkdfSync, timingSafeEqual, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  decodeAgentKeyFile,
  hpkeUnwrap,
  openKeyList,
  unwrapUnderMaster,
  verifyManifest,
  type CryptoContext,
} from '../../../shared/crypto/index.ts';
import { computeVectors, largePlaintext, VECTOR_INPUTS as I, type Vectors } from '../../vectors/compute.ts';

const stored = JSON.parse(readFileSync(new URL('../../vectors/vectors.json', import.meta.url), 'utf8')) as Vectors;
const bytes = (name: string): Buffer => Buffer.from(stored[name]!, 'hex');
const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** §3.5 from the document alone: leaves of ⌊2^20 / S⌋ frames after the header leaf. */
const releaseDigest = (file: Buffer, headerLen: number, S: number): Buffer => {
  const leaf = Math.max(1, Math.floor(1048576 / S)) * (S + 16);
  const leaves = [sha256(file.subarray(0, headerLen))];
  for (let at = headerLen; at < file.byteLength; at += leaf) leaves.push(sha256(file.subarray(at, at + leaf)));
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(file.byteLength));
  return sha256(Buffer.from('latchkey/v1/release-digest\0'), ...leaves, size);
};

/** §3.3 from the document alone: AES-256-GCM per segment, nonce = counter ‖ final flag. */
const segmentNonce = (i: number, final: boolean): Buffer => {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(i, 7);
  nonce[11] = final ? 1 : 0;
  return nonce;
};

/** The `manifest.signed` vector as manifest version 3 wrote it, before the archive codec byte (§7, §10). */
const MANIFEST_V3 =
  '4c4b4d4603004304076163636f756e7400056163632d310b6170706c69636174696f6e00056170702d3107707572706f7365000772656c656173650772656c65617365000572656c2d3100000040000000000000009600000000000001586a4676c334507c19391cecd9186dc3fb55b65ca00746f5ccda9fd9a1b9cdcbd6877d6cf4b9948905456ae5219d1e644d083a14abd437e79062950651ac40ef0c0a5b67549542c9a55ed6a80ba5c7646b13834d6d5a15c2e3fedd7da04db45886fb6750362f2342dd68de6317d07af19751276f7ee91b33ad84d7667412149a6bac6ee3c22afdb5b023ea146fc0808553192fc7eef9220f6938c8aa24f97e1708';

describe('test vectors', () => {
  it('the code reproduces every stored vector byte for byte', async () => {
    const now = await computeVectors();
    expect(Object.keys(now).sort()).toEqual(Object.keys(stored).sort());
    for (const [name, value] of Object.entries(stored)) expect(now[name], name).toBe(value);
  });

  it('the stored objects open with the fixed keys', async () => {
    expect(verifyManifest(bytes('manifest.signed'), bytes('ed25519.public'), I.releaseContext).plaintextSize).toBe(150);
    const wrapCtx: CryptoContext = { ...I.releaseContext, purpose: 'release-key', keyVersion: 1 };
    expect(unwrapUnderMaster({ version: 1, key: I.masterKey }, wrapCtx, bytes('masterWrap.envelope'))).toEqual(I.releaseKey);
    expect(await hpkeUnwrap(I.x25519Private, { ...I.releaseContext, purpose: 'release-key' }, bytes('hpke.envelope'))).toEqual(I.releaseKey);
    const kl = openKeyList(I.deploymentKey, { ...I.releaseContext, environment: 'prod', deployment: 'dep-1', purpose: 'key-list' }, bytes('keyList.file'));
    expect(kl[0]!.releaseKey).toEqual(I.releaseKey);
    expect(decodeAgentKeyFile(bytes('agentKeyFile')).encryption.privateKey).toEqual(I.x25519Private);
  });

  it('an independent decrypter written from docs/release-format.md opens the release vector', () => {
    // Deliberately uses nothing from shared/crypto: if this breaks, the document or the code is wrong.
    const file = bytes('release.file');
    const S = file.readUInt32BE(9);
    const salt = file.subarray(13, 45);
    const ctxLen = file.readUInt16BE(45);
    const headerLen = 47 + ctxLen + 32;
    const header = file.subarray(0, headerLen);
    const hkdf = (label: string, data: Buffer) =>
      Buffer.from(hkdfSync('sha256', I.releaseKey, salt, Buffer.concat([Buffer.from(label), data]), 32));
    const commitment = hkdf('latchkey/v1/release-commitment\0', Buffer.alloc(0));
    expect(timingSafeEqual(commitment, header.subarray(headerLen - 32))).toBe(true);
    const headerHash = createHash('sha256').update(header).digest();
    expect(headerHash.toString('hex')).toBe(stored['release.headerHash']);
    const payloadKey = hkdf('latchkey/v1/release-payload\0', headerHash);
    const out: Buffer[] = [];
    let pos = headerLen;
    for (let i = 0; pos < file.byteLength; i++) {
      const frame = Math.min(S + 16, file.byteLength - pos);
      const final = frame < S + 16;
      const d = createDecipheriv('aes-256-gcm', payloadKey, segmentNonce(i, final), { authTagLength: 16 });
      d.setAuthTag(file.subarray(pos + frame - 16, pos + frame));
      out.push(d.update(file.subarray(pos, pos + frame - 16)), d.final());
      pos += frame;
    }
    expect(Buffer.concat(out).equals(I.plaintext)).toBe(true);
  });

  it('an independent reader of the manifest (§7) finds the release file\'s digest signed in it', () => {
    // Also written from the document alone: the release digest of §3.5 over the whole file.
    const signed = bytes('manifest.signed');
    const body = signed.subarray(0, signed.byteLength - 64);
    expect(body.subarray(0, 4).toString('ascii')).toBe('LKMF');
    expect(body[4]).toBe(4);
    const ctxLen = body.readUInt16BE(5);
    expect(body.subarray(7, 7 + ctxLen).toString('hex')).toBe(stored['context.release']);
    let at = 7 + ctxLen;
    expect(body.readUInt32BE(at)).toBe(I.segmentSize);
    expect(Number(body.readBigUInt64BE(at + 4))).toBe(I.plaintext.byteLength);
    expect(Number(body.readBigUInt64BE(at + 12))).toBe(bytes('release.file').byteLength);
    expect(body[at + 20]).toBe(1); // archive codec: 1 = tar+gzip
    at += 21;
    const field = () => body.subarray(at, (at += 32)).toString('hex');
    expect(field()).toBe(stored['release.headerHash']);
    const file = bytes('release.file');
    const fileDigest = releaseDigest(file, 47 + file.readUInt16BE(45) + 32, I.segmentSize).toString('hex');
    expect(field()).toBe(fileDigest);
    expect(stored['release.fileDigest']).toBe(fileDigest);
    expect(field()).toBe(createHash('sha256').update(bytes('ed25519.public')).digest('hex'));
    expect(at).toBe(body.byteLength);
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), bytes('ed25519.public')]);
    const message = Buffer.concat([Buffer.from('latchkey/v1/release-manifest\0'), body]);
    expect(verify(null, message, createPublicKey({ key: spki, format: 'der', type: 'spki' }), signed.subarray(body.byteLength))).toBe(true);
  });

  it('a manifest the CLI signed before the codec byte (version 3) still verifies, as a tar+gzip archive of the same file', () => {
    const v3 = Buffer.from(MANIFEST_V3, 'hex');
    expect(v3[4]).toBe(3);
    const m = verifyManifest(v3, bytes('ed25519.public'), I.releaseContext);
    expect(m.codec).toBe('tar+gzip');
    expect(m.fileDigest.toString('hex')).toBe(stored['release.fileDigest']);
  });

  it('an independent encrypter written from docs/release-format.md produces the digest of a release of several leaves', () => {
    // The small vector's header with the segment size changed: same salt, context and commitment.
    const small = bytes('release.file');
    const header = Buffer.from(small.subarray(0, 47 + small.readUInt16BE(45) + 32));
    const S = I.large.segmentSize;
    header.writeUInt32BE(S, 9);
    const payloadKey = Buffer.from(
      hkdfSync('sha256', I.releaseKey, header.subarray(13, 45), Buffer.concat([Buffer.from('latchkey/v1/release-payload\0'), sha256(header)]), 32),
    );
    const plain = largePlaintext();
    const frames = [header];
    for (let i = 0, at = 0; ; i++, at += S) {
      const final = plain.byteLength - at < S;
      const c = createCipheriv('aes-256-gcm', payloadKey, segmentNonce(i, final), { authTagLength: 16 });
      frames.push(c.update(plain.subarray(at, Math.min(at + S, plain.byteLength))), c.final(), c.getAuthTag());
      if (final) break;
    }
    expect(releaseDigest(Buffer.concat(frames), header.byteLength, S).toString('hex')).toBe(stored['release.large.fileDigest']);
  });
});
