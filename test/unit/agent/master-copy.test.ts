import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { generateMasterKey, generateRawKeyPair, hpkeWrap, type MasterKey } from '#shared/crypto/index.ts';
import type { AgentRecord, MasterCopy } from '#shared/protocol/agent-messages.ts';
import { masterKeyContext } from '#shared/protocol/key-contexts.ts';
import { fromB64, masterCommitment, masterWrapStatementOf, signMasterWrap, toB64, verifyMasterWrap, type MasterWrapStatement } from '#shared/protocol/trust.ts';
import { openMasterCopy, verifyMasterCopy, wrapMasterTo } from '#agent/handlers/master-copy.ts';
import { trustedPeer } from '#agent/handlers/peers.ts';
import { RequestRefused, type AgentIdentity, type HandlerContext } from '#agent/handlers/types.ts';
import { openMasterPins } from '#agent/master-pins.ts';
import { memoryStatementPins } from '#agent/statement-pins.ts';
import { accountWithAgent, agentStatementFor, enrolledPeer, memoryLog, newId, tempDir } from './fixtures.ts';

describe('the signed master-wrap statement', () => {
  const key = generateRawKeyPair('ed25519');
  const statement: MasterWrapStatement = masterWrapStatementOf({
    accountId: newId('acc'),
    version: 3,
    recipientId: newId('agt'),
    wrappedMaster: toB64(Buffer.alloc(120, 5)),
    commitment: 'ab'.repeat(32),
  });
  const signature = signMasterWrap(key.privateKey, statement);

  it('verifies under the signer’s key only', () => {
    expect(verifyMasterWrap(key.publicKey, statement, signature)).toBe(true);
    expect(verifyMasterWrap(generateRawKeyPair('ed25519').publicKey, statement, signature)).toBe(false);
  });

  it('binds the wrap by the SHA-256 of its bytes', () => {
    expect(statement.wrapSha256).toMatch(/^[0-9a-f]{64}$/);
    const other = masterWrapStatementOf({ ...statement, recipientId: statement.recipientId, wrappedMaster: toB64(Buffer.alloc(120, 6)) });
    expect(other.wrapSha256).not.toBe(statement.wrapSha256);
  });

  it('fails for any change to any field', () => {
    const hex = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${length}}$`));
    const changed: fc.Arbitrary<Partial<MasterWrapStatement>> = fc.oneof(
      hex(32).map((h) => ({ accountId: `acc_${h}` })),
      hex(32).map((h) => ({ recipientId: `agt_${h}` })),
      fc.integer({ min: 1, max: 1_000_000 }).map((version) => ({ version })),
      hex(64).map((h) => ({ wrapSha256: h })),
      hex(64).map((h) => ({ commitment: h })),
    );
    fc.assert(
      fc.property(changed, (change) => {
        const edited = { ...statement, ...change };
        fc.pre(JSON.stringify(edited) !== JSON.stringify(statement));
        expect(verifyMasterWrap(key.publicKey, edited, signature)).toBe(false);
      }),
    );
  });

  it('does not verify a signature made with another label (a session or message signature)', () => {
    expect(verifyMasterWrap(key.publicKey, statement, toB64(Buffer.alloc(64)))).toBe(false);
  });
});

describe('openMasterCopy: a key server opens only a copy an enrolled key server signed for it', () => {
  let account: ReturnType<typeof accountWithAgent>;
  let peer: ReturnType<typeof enrolledPeer>;
  let context: HandlerContext;
  let dir: string;
  let master: MasterKey;

  const identityOf = (agent: ReturnType<typeof enrolledPeer>): AgentIdentity => ({
    accountId: account.accountId,
    agentId: agent.record.agentId,
    role: 'keyserver',
    keys: agent.keys,
    ownerKey: account.owner.publicKey,
    statements: memoryStatementPins(),
  });

  /** The copy `maker` wraps and signs for this key server, as the backend would hand it over. */
  const copyFrom = async (maker: ReturnType<typeof enrolledPeer>, key: MasterKey = master, record: AgentRecord = maker.record): Promise<MasterCopy> => {
    const [wrap] = await wrapMasterTo(key, [trustedPeer(account.me.record, account.self, { role: 'keyserver' })], { self: identityOf(maker) });
    return { wrappedMaster: wrap!.wrappedMaster, masterCommitment: wrap!.commitment, masterWrapSignature: wrap!.signature, masterWrapper: record };
  };

  const refusal = async (copy: MasterCopy, version = 1) => {
    const error = await openMasterCopy(copy, version, context).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RequestRefused);
    return error as RequestRefused;
  };

  const pinsOnDisk = () => readFile(join(dir, 'masters.json'), 'utf8').catch(() => '');

  beforeEach(async () => {
    account = accountWithAgent();
    peer = enrolledPeer(account.owner, account.accountId);
    dir = await tempDir();
    context = { self: account.self, log: memoryLog(), masters: await openMasterPins(join(dir, 'masters.json')), mintedVersion: () => undefined };
    master = generateMasterKey(1);
  });

  it('opens a copy an enrolled key server signed, and pins it', async () => {
    const opened = await openMasterCopy(await copyFrom(peer), 1, context);

    expect(Buffer.from(opened.key).equals(master.key)).toBe(true);
    expect(await pinsOnDisk()).toContain(masterCommitment(account.accountId, 1, master.key).toString('hex'));
  });

  it('refuses, before unwrapping and pinning anything, a copy the backend wrapped itself and presented with a genuine signature', async () => {
    // A fresh key server has no pin yet: without the signature it would have learned this key.
    const genuine = await copyFrom(peer);
    const forged = toB64(await hpkeWrap(account.me.keys.encryption.publicKey, masterKeyContext({ accountId: account.accountId, version: 1 }), generateMasterKey(1).key));

    const error = await refusal({ ...genuine, wrappedMaster: forged });

    expect(error.code).toBe('UntrustedMasterCopy');
    expect(await pinsOnDisk()).toBe('');
  });

  it('refuses a copy signed by a key server the owner did not enrol', async () => {
    const impostor = enrolledPeer(account.owner, account.accountId, { enrolmentSigner: generateRawKeyPair('ed25519') });

    const error = await refusal(await copyFrom(impostor));

    expect(error.code).toBe('UntrustedMasterCopy');
    expect(error.message).toContain(impostor.record.agentId);
    expect(await pinsOnDisk()).toBe('');
  });

  it('opens a copy made by a key server the owner removed since, but refuses one made by a key server the owner never confirmed', async () => {
    // The maker's record now carries the owner's removal: what it made while trusted still opens.
    const removedSince = { ...peer.record, statement: agentStatementFor(account.owner, peer.record, { status: 'removed', version: 2 }) };
    const opened = await openMasterCopy(await copyFrom(peer, master, removedSince), 1, context);
    expect(Buffer.from(opened.key).equals(master.key)).toBe(true);

    const unconfirmed = enrolledPeer(account.owner, account.accountId, { confirmed: false });
    const error = await refusal(await copyFrom(unconfirmed));
    expect(error.code).toBe('UntrustedMasterCopy');
    expect(error.message).toContain('the account owner has not confirmed it');
  });

  it('refuses a copy signed by an enrolled target, not a key server', async () => {
    const target = enrolledPeer(account.owner, account.accountId, { role: 'target' });

    expect((await refusal(await copyFrom(target))).code).toBe('UntrustedMasterCopy');
  });

  it('refuses a genuine signature presented with another key server’s record', async () => {
    expect((await refusal({ ...(await copyFrom(peer)), masterWrapper: enrolledPeer(account.owner, account.accountId).record })).code).toBe('UntrustedMasterCopy');
  });

  it('refuses a copy signed for another version or another recipient', async () => {
    expect((await refusal(await copyFrom(peer), 2)).code).toBe('UntrustedMasterCopy');

    const other = enrolledPeer(account.owner, account.accountId);
    const [wrap] = await wrapMasterTo(master, [trustedPeer(other.record, account.self, { role: 'keyserver' })], { self: identityOf(peer) });
    // The copy made for `other`, handed to this key server: its signature names `other`.
    const error = await refusal({ wrappedMaster: wrap!.wrappedMaster, masterCommitment: wrap!.commitment, masterWrapSignature: wrap!.signature, masterWrapper: peer.record });
    expect(error.code).toBe('UntrustedMasterCopy');
  });

  it('refuses a signed copy whose key is not the one its signer committed to', async () => {
    // A signer that commits to one key and wraps another.
    const wrappedMaster = toB64(await hpkeWrap(account.me.keys.encryption.publicKey, masterKeyContext({ accountId: account.accountId, version: 1 }), generateMasterKey(1).key));
    const commitment = masterCommitment(account.accountId, 1, master.key).toString('hex');
    const statement = masterWrapStatementOf({ accountId: account.accountId, version: 1, recipientId: account.self.agentId, wrappedMaster, commitment });
    const copy = { wrappedMaster, masterCommitment: commitment, masterWrapSignature: signMasterWrap(peer.keys.signing.privateKey, statement), masterWrapper: peer.record };

    const error = await refusal(copy);

    expect(error.code).toBe('UntrustedMasterCopy');
    expect(await pinsOnDisk()).toBe('');
  });

  it('refuses a signed copy of another key for a version it already holds', async () => {
    await openMasterCopy(await copyFrom(peer), 1, context);

    expect((await refusal(await copyFrom(peer, generateMasterKey(1)))).code).toBe('MasterKeyMismatch');
  });

  it('checks only public data in verifyMasterCopy, and returns the verified wrapper', async () => {
    const copy = await copyFrom(peer);

    const wrapper = verifyMasterCopy(copy, 1, context);

    expect(wrapper.agentId).toBe(peer.record.agentId);
    expect(wrapper.signingKey.equals(fromB64(peer.record.proof.binding.signingKey))).toBe(true);
  });
});
