import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateAgentKeys,
  keyId,
  manifestHash,
  signGrant,
  signManifest,
  verifyGrant,
  verifyManifest,
  type CryptoContext,
  type UnsignedManifest,
} from '../../../shared/crypto/index.ts';
import { LABEL } from '../../../shared/crypto/kdf.ts';
import { ARCHIVE_CODECS, encodeManifest } from '../../../shared/crypto/manifest.ts';
import { signWithLabel } from '../../../shared/crypto/signatures.ts';
import { signManifestV3 } from '../../support/manifest-v3.ts';
import { rejection, releaseContext } from './helpers.ts';

const pusher = generateAgentKeys().signing;
const keyServer = generateAgentKeys();
const target = generateAgentKeys();

const unsigned: UnsignedManifest = {
  context: releaseContext,
  segmentSize: 65536,
  plaintextSize: 1234,
  ciphertextSize: 1500,
  headerHash: Buffer.alloc(32, 1),
  fileDigest: Buffer.alloc(32, 3),
};

describe('release manifest', () => {
  it('verifies under the pusher key and names the signer', () => {
    const signed = signManifest(unsigned, pusher);
    const m = verifyManifest(signed, pusher.publicKey, releaseContext);
    expect(m).toEqual({ ...unsigned, codec: 'tar+gzip', signerKeyId: keyId(pusher.publicKey) });
  });

  it('rejects another key, another context and any altered byte', async () => {
    const signed = signManifest(unsigned, pusher);
    expect((await rejection(async () => verifyManifest(signed, keyServer.signing.publicKey))).reason).toBe('bad-signature');
    expect((await rejection(async () => verifyManifest(signed, pusher.publicKey, { ...releaseContext, release: 'x' }))).reason).toBe('wrong-context');
    for (let i = 0; i < signed.byteLength; i++) {
      const bad = Buffer.from(signed);
      bad[i]! ^= 0x10;
      expect((await rejection(async () => verifyManifest(bad, pusher.publicKey))).reason).toBe('bad-signature');
    }
  });

  it('signs the archive codec: each of them reads back; a manifest without one says tar+gzip', () => {
    for (const codec of ARCHIVE_CODECS) expect(verifyManifest(signManifest({ ...unsigned, codec }, pusher), pusher.publicKey).codec).toBe(codec);
    expect(verifyManifest(signManifest(unsigned, pusher), pusher.publicKey).codec).toBe('tar+gzip');
  });

  it('still reads a version-3 manifest (the CLI before the codec byte): its archive is tar+gzip', () => {
    // Prepare: version 3 is version 4 without the codec byte after the ciphertext size.
    const v3 = signManifestV3(unsigned, pusher);
    expect(v3[4]).toBe(3);
    // Act
    const read = verifyManifest(v3, pusher.publicKey);
    // Assess
    expect(read).toMatchObject({ codec: 'tar+gzip', plaintextSize: unsigned.plaintextSize, ciphertextSize: unsigned.ciphertextSize });
    expect(read.fileDigest.equals(unsigned.fileDigest)).toBe(true);
  });

  it('refuses a validly signed manifest naming a codec it does not know', async () => {
    const body = encodeManifest({ ...unsigned, codec: 'tar', signerKeyId: keyId(pusher.publicKey) });
    body[7 + body.readUInt16BE(5) + 20] = ARCHIVE_CODECS.length;
    const signed = Buffer.concat([body, signWithLabel(pusher.privateKey, LABEL.manifestSignature, body)]);
    expect((await rejection(async () => verifyManifest(signed, pusher.publicKey))).reason).toBe('unsupported-version');
  });

  it('refuses a validly signed version-1 manifest (the layout that also carried a plaintext digest)', async () => {
    const body = encodeManifest({ ...unsigned, codec: 'tar+gzip', signerKeyId: keyId(pusher.publicKey) });
    body[4] = 1;
    const v1 = Buffer.concat([body, signWithLabel(pusher.privateKey, LABEL.manifestSignature, body)]);
    expect((await rejection(async () => verifyManifest(v1, pusher.publicKey))).reason).toBe('unsupported-version');
  });
});

describe('deployment grant', () => {
  const ctx: CryptoContext = { ...releaseContext, environment: 'prod', deployment: 'dep-1', purpose: 'deployment-grant' };
  const manifest = signManifest(unsigned, pusher);
  const keyList = Buffer.from('key list bytes');
  const wrappedKey = Buffer.from('wrapped key bytes');
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();
  const grant = signGrant(
    {
      context: ctx,
      targetAgentId: 'agent-7',
      targetKeyId: keyId(target.encryption.publicKey),
      manifestHash: manifestHash(manifest),
      keyListHash: sha(keyList),
      wrappedKeyHash: sha(wrappedKey),
      issuedAt: 1_700_000_000_000,
      expiresAt: 1_700_000_600_000,
    },
    keyServer.signing,
  );
  const expectations = {
    context: ctx,
    targetAgentId: 'agent-7',
    targetPublicKey: target.encryption.publicKey,
    manifest,
    keyList,
    wrappedKey,
    now: 1_700_000_100_000,
  };

  it('verifies what the target received', () => {
    expect(verifyGrant(grant, keyServer.signing.publicKey, expectations).targetAgentId).toBe('agent-7');
  });

  it('rejects a forged, expired, misdirected or mismatched grant', async () => {
    const reason = async (f: () => unknown) => (await rejection(async () => f())).reason;
    expect(await reason(() => verifyGrant(grant, pusher.publicKey, expectations))).toBe('bad-signature');
    expect(await reason(() => verifyGrant(grant, keyServer.signing.publicKey, { ...expectations, now: 1_700_000_600_000 }))).toBe('expired');
    expect(await reason(() => verifyGrant(grant, keyServer.signing.publicKey, { ...expectations, targetAgentId: 'agent-8' }))).toBe('digest-mismatch');
    expect(await reason(() => verifyGrant(grant, keyServer.signing.publicKey, { ...expectations, keyList: Buffer.from('other') }))).toBe('digest-mismatch');
    expect(await reason(() => verifyGrant(grant, keyServer.signing.publicKey, { ...expectations, context: { ...ctx, environment: 'staging' } }))).toBe('wrong-context');
    // A manifest signature is not a grant signature, even over the same key.
    const asGrant = signManifest(unsigned, keyServer.signing);
    expect(await reason(() => verifyGrant(asGrant, keyServer.signing.publicKey, expectations))).toBe('bad-signature');
  });
});
