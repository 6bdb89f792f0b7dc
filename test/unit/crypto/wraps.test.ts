import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  generateAgentKeys,
  generateDeploymentKey,
  generateMasterKey,
  generateReleaseKey,
  hpkeRecipientKeyId,
  hpkeUnwrap,
  hpkeWrap,
  keyId,
  masterVersionOf,
  openKeyList,
  sealKeyList,
  findRelease,
  unwrapUnderMaster,
  wrapUnderMaster,
  type CryptoContext,
  type KeyListEntry,
} from '../../../shared/crypto/index.ts';
import { rejection, releaseContext } from './helpers.ts';

const releaseKeyContext: CryptoContext = { ...releaseContext, purpose: 'release-key' };

describe('HPKE wrap to an agent', () => {
  const agent = generateAgentKeys();

  it('round-trips a key and names the recipient', async () => {
    const secret = generateReleaseKey();
    const env = await hpkeWrap(agent.encryption.publicKey, releaseKeyContext, secret);
    expect(hpkeRecipientKeyId(env).equals(keyId(agent.encryption.publicKey))).toBe(true);
    expect((await hpkeUnwrap(agent.encryption.privateKey, releaseKeyContext, env)).equals(secret)).toBe(true);
  });

  it('refuses another agent, another context, and any altered byte', async () => {
    const env = await hpkeWrap(agent.encryption.publicKey, releaseKeyContext, generateReleaseKey());
    const other = generateAgentKeys();
    expect((await rejection(() => hpkeUnwrap(other.encryption.privateKey, releaseKeyContext, env))).reason).toBe('wrong-key');
    const moved = { ...releaseKeyContext, environment: 'prod' };
    expect((await rejection(() => hpkeUnwrap(agent.encryption.privateKey, moved, env))).reason).toBe('wrong-context');
    const asDeploymentKey = { ...releaseKeyContext, purpose: 'deployment-key' } as const;
    expect((await rejection(() => hpkeUnwrap(agent.encryption.privateKey, asDeploymentKey, env))).reason).toBe('wrong-context');
    for (let i = 0; i < env.byteLength; i++) {
      const bad = Buffer.from(env);
      bad[i]! ^= 0x01;
      await rejection(() => hpkeUnwrap(agent.encryption.privateKey, releaseKeyContext, bad));
    }
  });
});

describe('wraps under the master key', () => {
  const master = generateMasterKey(3);
  const ctx: CryptoContext = { ...releaseKeyContext, keyVersion: 3 };

  it('round-trips with a fresh salt per wrap', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (secret) => {
        const a = wrapUnderMaster(master, ctx, secret);
        const b = wrapUnderMaster(master, ctx, secret);
        expect(a.equals(b)).toBe(false);
        expect(masterVersionOf(a)).toBe(3);
        return unwrapUnderMaster(master, ctx, a).equals(Buffer.from(secret));
      }),
      { numRuns: 50 },
    );
  });

  it('refuses another master key, version or context, and altered bytes', async () => {
    const wrapped = wrapUnderMaster(master, ctx, generateReleaseKey());
    expect((await rejection(async () => unwrapUnderMaster({ version: 3, key: generateReleaseKey() }, ctx, wrapped))).reason).toBe('wrong-key');
    expect((await rejection(async () => unwrapUnderMaster({ ...master, version: 4 }, { ...ctx, keyVersion: 4 }, wrapped))).reason).toBe('wrong-key');
    expect((await rejection(async () => unwrapUnderMaster(master, { ...ctx, release: 'rel-2' }, wrapped))).reason).toBe('wrong-context');
    for (let i = 0; i < wrapped.byteLength; i++) {
      const bad = Buffer.from(wrapped);
      bad[i]! ^= 0x40;
      await rejection(async () => unwrapUnderMaster(master, ctx, bad));
    }
  });

  it('requires the context to name the master key version', () => {
    expect(() => wrapUnderMaster(master, releaseKeyContext, generateReleaseKey())).toThrow(/keyVersion/);
  });
});

describe('key list file', () => {
  const ctx: CryptoContext = { ...releaseContext, environment: 'prod', deployment: 'dep-1', purpose: 'key-list' };
  const entry: KeyListEntry = {
    context: releaseContext,
    releaseKey: generateReleaseKey(),
    headerHash: Buffer.alloc(32, 1),
    fileDigest: Buffer.alloc(32, 2),
  };

  it('round-trips and finds a release', () => {
    const dk = generateDeploymentKey();
    const file = sealKeyList(dk, ctx, [entry]);
    const entries = openKeyList(dk, ctx, file);
    expect(findRelease(entries, releaseContext).releaseKey).toEqual(Buffer.from(entry.releaseKey));
  });

  it('refuses a wrong deployment key, another deployment, and altered bytes', async () => {
    const dk = generateDeploymentKey();
    const file = sealKeyList(dk, ctx, [entry]);
    expect((await rejection(async () => openKeyList(generateDeploymentKey(), ctx, file))).reason).toBe('wrong-key');
    expect((await rejection(async () => openKeyList(dk, { ...ctx, deployment: 'dep-2' }, file))).reason).toBe('wrong-context');
    for (let i = 0; i < file.byteLength; i++) {
      const bad = Buffer.from(file);
      bad[i]! ^= 0x02;
      await rejection(async () => openKeyList(dk, ctx, bad));
    }
  });
});
