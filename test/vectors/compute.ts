/**
 * Fixed inputs -> exact bytes for every format in docs/release-format.md. `generate.ts` writes
 * them to vectors.json once; test/unit/crypto/vectors.test.ts recomputes and compares, so a
 * change to any byte of any format fails a test instead of drifting silently.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encodeAgentKeyFile,
  encodeContext,
  signGrant,
  signManifest,
  type AgentKeys,
  type CryptoContext,
} from '../../shared/crypto/index.ts';
import { hpkeWrapWithEphemeral } from '../../shared/crypto/hpke-wrap.ts';
import { sealKeyListWithSalt } from '../../shared/crypto/key-list.ts';
import { wrapUnderMasterWithSalt } from '../../shared/crypto/master-wrap.ts';
import { publicFromPrivate } from '../../shared/crypto/raw-keys.ts';
import { encryptReleaseWith } from '../../shared/crypto/release-stream.ts';

/** 32 bytes counting up from `start`: readable in a hex dump. */
export const counting = (start: number, n = 32): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff));

export const VECTOR_INPUTS = {
  releaseKey: counting(0x00),
  releaseSalt: counting(0x20),
  masterKey: counting(0x40),
  wrapSalt: counting(0x60),
  deploymentKey: counting(0x80),
  keyListSalt: counting(0xa0),
  x25519Private: counting(0xc0),
  hpkeEphemeralSeed: counting(0xe0),
  ed25519Seed: counting(0x10),
  /** "latchkey test vector " repeated to 150 bytes: three 64-byte segments (64 + 64 + 22). */
  plaintext: Buffer.from('latchkey test vector '.repeat(8).slice(0, 150), 'utf8'),
  segmentSize: 64,
  /**
   * A release of several digest leaves (§3.5): 262,144-byte segments make 4-frame leaves, and
   * 2,621,447 bytes make 11 frames, so leaves of 4, 4 and 3 frames. Stored as its digest only.
   */
  large: { segmentSize: 262_144, plaintextSize: 2_621_447 },
  releaseContext: { account: 'acc-1', application: 'app-1', release: 'rel-1', purpose: 'release' } as CryptoContext,
};

/** The large release's plaintext: byte i = (i·131 + ⌊i / 256⌋) mod 256. */
export const largePlaintext = (): Buffer =>
  Buffer.from(Array.from({ length: VECTOR_INPUTS.large.plaintextSize }, (_, i) => (i * 131 + (i >>> 8)) & 0xff));

export type Vectors = Record<string, string>;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export const computeVectors = async (): Promise<Vectors> => {
  const I = VECTOR_INPUTS;
  const dir = mkdtempSync(join(tmpdir(), 'lk-vectors-'));
  try {
    const release = async (plain: Buffer, segmentSize = I.segmentSize, threads: 'inline' | 'workers' = 'inline') => {
      const out = join(dir, 'release');
      const r = await encryptReleaseWith(
        { input: plain, outputPath: out, releaseKey: I.releaseKey, context: I.releaseContext, segmentSize },
        { salt: I.releaseSalt, threads },
      );
      return { file: readFileSync(out), r };
    };
    const full = await release(I.plaintext);
    const empty = await release(Buffer.alloc(0));
    const large = await release(largePlaintext(), I.large.segmentSize, 'workers');
    const signer = { privateKey: I.ed25519Seed, publicKey: publicFromPrivate('ed25519', I.ed25519Seed) };
    const manifest = signManifest(full.r, signer);
    const wrapContext: CryptoContext = { ...I.releaseContext, purpose: 'release-key', keyVersion: 1 };
    const keyListContext: CryptoContext = { ...I.releaseContext, environment: 'prod', deployment: 'dep-1', purpose: 'key-list' };
    const x25519Public = publicFromPrivate('x25519', I.x25519Private);
    const hpke = await hpkeWrapWithEphemeral(
      x25519Public,
      { ...I.releaseContext, purpose: 'release-key' },
      I.releaseKey,
      I.hpkeEphemeralSeed,
    );
    const keyList = sealKeyListWithSalt(
      I.deploymentKey,
      keyListContext,
      [{ context: I.releaseContext, releaseKey: I.releaseKey, headerHash: full.r.headerHash, fileDigest: full.r.fileDigest }],
      I.keyListSalt,
    );
    const grant = signGrant(
      {
        context: { ...I.releaseContext, environment: 'prod', deployment: 'dep-1', purpose: 'deployment-grant' },
        targetAgentId: 'agent-1',
        targetKeyId: Buffer.alloc(32, 0x11),
        manifestHash: Buffer.alloc(32, 0x22),
        keyListHash: Buffer.alloc(32, 0x33),
        wrappedKeyHash: Buffer.alloc(32, 0x44),
        issuedAt: 1_700_000_000_000,
        expiresAt: 1_700_000_600_000,
      },
      signer,
    );
    const agentKeys: AgentKeys = {
      encryption: { privateKey: I.x25519Private, publicKey: x25519Public },
      signing: signer,
    };
    return {
      'context.release': hex(encodeContext(I.releaseContext)),
      'context.wrap': hex(encodeContext(wrapContext)),
      'release.file': hex(full.file),
      'release.headerHash': hex(full.r.headerHash),
      'release.fileDigest': hex(full.r.fileDigest),
      'release.empty.file': hex(empty.file),
      'release.large.fileDigest': hex(large.r.fileDigest),
      'manifest.signed': hex(manifest),
      'ed25519.public': hex(signer.publicKey),
      'x25519.public': hex(x25519Public),
      'masterWrap.envelope': hex(wrapUnderMasterWithSalt({ version: 1, key: I.masterKey }, wrapContext, I.releaseKey, I.wrapSalt)),
      'hpke.envelope': hex(hpke),
      'keyList.file': hex(keyList),
      'grant.signed': hex(grant),
      'agentKeyFile': hex(encodeAgentKeyFile(agentKeys)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
