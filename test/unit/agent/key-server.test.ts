import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { generateMasterKey, generateReleaseKey, hpkeUnwrap, hpkeWrap, unwrapUnderMaster, type AgentKeys } from '#shared/crypto/index.ts';
import { masterKeyContext, releaseKeyToKeyServerContext, releaseKeyUnderMasterContext } from '#shared/protocol/key-contexts.ts';
import type { AgentRecord, AgentRequest } from '#shared/protocol/agent-messages.ts';
import { fromB64, toB64 } from '#shared/protocol/trust.ts';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { keyServerHandlers } from '#agent/handlers/key-server.ts';
import { openJournal, type Journal } from '#agent/journal.ts';
import { openMasterPins } from '#agent/master-pins.ts';
import { createRequestProcessor, type RequestProcessor } from '#agent/requests.ts';
import type { Outcome } from '#agent/replies.ts';
import { accountWithAgent, enrolledPeer, memoryLog, newId, tempDir } from './fixtures.ts';

type Wrap = { agentId: string; wrappedMaster: string; commitment: string; signature: string };
type Wraps = { version: number; wraps: Wrap[] };

const succeeded = (outcome: Outcome) => {
  expect(outcome, JSON.stringify(outcome)).toMatchObject({ outcome: 'succeeded' });
  return (outcome as Extract<Outcome, { outcome: 'succeeded' }>).result;
};

describe('key server handlers', () => {
  let account: ReturnType<typeof accountWithAgent>;
  let peer: ReturnType<typeof enrolledPeer>;
  let dir: string;
  let journal: Journal;
  let processRequest: RequestProcessor;
  let log: ReturnType<typeof memoryLog>;

  const open = async () => {
    journal = await openJournal(join(dir, 'journal.jsonl'), { log });
    const masters = await openMasterPins(join(dir, 'masters.json'));
    processRequest = createRequestProcessor({ self: account.self, handlers: keyServerHandlers, journal, masters, log });
  };

  beforeEach(async () => {
    // Prepare: an account, this key server, one more enrolled key server, a fresh state dir.
    account = accountWithAgent();
    peer = enrolledPeer(account.owner, account.accountId);
    dir = await tempDir();
    log = memoryLog();
    await open();
  });

  const createRequest = (holders: AgentRecord[], version = 1) =>
    ({
      type: 'create-master-key',
      requestId: newId('req'),
      accountId: account.accountId,
      taskToken: 'task-token-1',
      sentAt: new Date().toISOString(),
      version,
      holders,
    }) satisfies AgentRequest;

  const unwrapMaster = (keys: AgentKeys, wrappedMaster: string, version = 1) =>
    hpkeUnwrap(keys.encryption.privateKey, masterKeyContext({ accountId: account.accountId, version }), fromB64(wrappedMaster));

  /** This key server's copy as the backend hands it back: signed by its maker (here, itself). */
  const ownCopy = (result: Wraps, wrapper: AgentRecord = account.me.record) => {
    const wrap = result.wraps.find((w) => w.agentId === account.self.agentId)!;
    return { wrappedMaster: wrap.wrappedMaster, masterCommitment: wrap.commitment, masterWrapSignature: wrap.signature, masterWrapper: wrapper };
  };

  describe('create-master-key', () => {
    it('wraps one new master key to every verified holder, which each can unwrap', async () => {
      const result = succeeded(await processRequest(createRequest([account.me.record, peer.record]), 1)) as Wraps;

      expect(result.version).toBe(1);
      expect(result.wraps.map((w) => w.agentId)).toEqual([account.self.agentId, peer.record.agentId]);
      const mine = await unwrapMaster(account.me.keys, result.wraps[0]!.wrappedMaster);
      const theirs = await unwrapMaster(peer.keys, result.wraps[1]!.wrappedMaster);
      expect(mine).toHaveLength(32);
      expect(theirs.equals(mine)).toBe(true);
    });

    it('answers a redelivered request with the identical reply, not a second master key', async () => {
      const request = createRequest([account.me.record, peer.record]);
      const first = await processRequest(request, 1);
      // Redelivery after a restart: the journal is read back from disk.
      await journal.close();
      await open();
      const second = await processRequest({ ...request, taskToken: 'task-token-2' }, 2);

      expect(second).toEqual(first);
      const a = await unwrapMaster(peer.keys, (succeeded(first) as Wraps).wraps[1]!.wrappedMaster);
      const b = await unwrapMaster(peer.keys, (succeeded(second) as Wraps).wraps[1]!.wrappedMaster);
      expect(b.equals(a)).toBe(true);
    });

    it('refuses a new request for a version it already minted', async () => {
      await processRequest(createRequest([account.me.record, peer.record]), 1);

      const again = await processRequest(createRequest([account.me.record, peer.record]), 1);

      expect(again).toMatchObject({ outcome: 'failed', error: { code: 'MasterKeyExists' } });
    });

    it('refuses a reused request id with other content', async () => {
      const request = createRequest([account.me.record, peer.record]);
      await processRequest(request, 1);

      const outcome = await processRequest({ ...request, holders: [account.me.record] }, 1);

      expect(outcome).toMatchObject({ outcome: 'failed', error: { code: 'RequestIdReused' } });
    });

    const refusedPeers: [string, () => AgentRecord][] = [
      ['whose enrolment is signed by another key', () => enrolledPeer(account.owner, account.accountId, { enrolmentSigner: generateRawKeyPair('ed25519') }).record],
      ['whose binding was not signed by the token key', () => enrolledPeer(account.owner, account.accountId, { bindingTokenSigner: generateRawKeyPair('ed25519') }).record],
      [
        'whose listed encryption key was swapped by the backend',
        () => ({ ...peer.record, encryptionKey: toB64(generateRawKeyPair('x25519').publicKey) }),
      ],
      [
        'whose bound encryption key was swapped in the proof',
        () => {
          const swapped = toB64(generateRawKeyPair('x25519').publicKey);
          return { ...peer.record, encryptionKey: swapped, proof: { ...peer.record.proof, binding: { ...peer.record.proof.binding, encryptionKey: swapped } } };
        },
      ],
      ['from another account', () => enrolledPeer(account.owner, newId('acc')).record],
      ['enrolled as a target', () => enrolledPeer(account.owner, account.accountId, { role: 'target' }).record],
      ['listed as a key server while enrolled as a target', () => ({ ...enrolledPeer(account.owner, account.accountId, { role: 'target' }).record, role: 'keyserver' as const })],
    ];

    it.each(refusedPeers)('refuses the whole request for a peer %s, and wraps nothing', async (_what, makePeer) => {
      const bad = makePeer();

      const outcome = await processRequest(createRequest([account.me.record, bad]), 1);

      expect(outcome).toMatchObject({ outcome: 'failed', error: { code: 'UntrustedPeer' } });
      expect((outcome as Extract<Outcome, { outcome: 'failed' }>).error.message).toContain(bad.agentId);
      expect(JSON.stringify(outcome)).not.toContain('wrappedMaster');
      // No master key was minted for the refused request: the version is still free.
      const later = await processRequest(createRequest([account.me.record, peer.record]), 1);
      expect(later.outcome).toBe('succeeded');
    });
  });

  describe('share-master-key', () => {
    it('wraps its own copy to each verified recipient', async () => {
      const created = succeeded(await processRequest(createRequest([account.me.record, peer.record]), 1)) as Wraps;
      const newcomer = enrolledPeer(account.owner, account.accountId);

      const shared = succeeded(
        await processRequest(
          {
            type: 'share-master-key',
            requestId: newId('req'),
            accountId: account.accountId,
            sentAt: new Date().toISOString(),
            version: 1,
            ...ownCopy(created),
            recipients: [newcomer.record],
          },
          1,
        ),
      ) as Wraps;

      expect(shared.wraps.map((w) => w.agentId)).toEqual([newcomer.record.agentId]);
      const theirs = await unwrapMaster(newcomer.keys, shared.wraps[0]!.wrappedMaster);
      expect(theirs.equals(await unwrapMaster(account.me.keys, ownCopy(created).wrappedMaster))).toBe(true);
    });

    it('refuses to share a key the backend wrapped to it and passed off as the master key', async () => {
      const created = succeeded(await processRequest(createRequest([account.me.record, peer.record]), 1)) as Wraps;
      // Anyone with the agent's public key can HPKE-wrap a key of their choosing to it; the
      // backend can also copy a genuine signature and wrapper record from a stored copy.
      const forged = generateMasterKey(1);
      const wrappedMaster = toB64(await hpkeWrap(account.me.keys.encryption.publicKey, masterKeyContext({ accountId: account.accountId, version: 1 }), forged.key));

      const outcome = await processRequest(
        {
          type: 'share-master-key',
          requestId: newId('req'),
          accountId: account.accountId,
          sentAt: new Date().toISOString(),
          version: 1,
          ...ownCopy(created),
          wrappedMaster,
          recipients: [peer.record],
        },
        1,
      );

      expect(outcome).toMatchObject({ outcome: 'failed', error: { code: 'UntrustedMasterCopy' } });
    });

    it('refuses an untrusted recipient before opening its master copy', async () => {
      const outcome = await processRequest(
        {
          type: 'share-master-key',
          requestId: newId('req'),
          accountId: account.accountId,
          sentAt: new Date().toISOString(),
          version: 1,
          wrappedMaster: toB64(Buffer.alloc(200, 1)),
          masterCommitment: '0'.repeat(64),
          masterWrapSignature: toB64(Buffer.alloc(64)),
          masterWrapper: peer.record,
          recipients: [enrolledPeer(account.owner, account.accountId, { enrolmentSigner: generateRawKeyPair('ed25519') }).record],
        },
        1,
      );

      expect(outcome).toMatchObject({ outcome: 'failed', error: { code: 'UntrustedPeer' } });
    });
  });

  describe('rewrap-release-key', () => {
    it('re-wraps the pusher’s release key under the master key for that release', async () => {
      const created = succeeded(await processRequest(createRequest([account.me.record, peer.record]), 1)) as Wraps;
      const ids = { accountId: account.accountId, appId: newId('app'), releaseId: newId('rel') };
      const releaseKey = generateReleaseKey();
      const wrappedReleaseKey = toB64(await hpkeWrap(account.me.keys.encryption.publicKey, releaseKeyToKeyServerContext(ids), releaseKey));

      const result = succeeded(
        await processRequest(
          {
            type: 'rewrap-release-key',
            requestId: newId('req'),
            accountId: account.accountId,
            sentAt: new Date().toISOString(),
            appId: ids.appId,
            releaseId: ids.releaseId,
            version: 1,
            ...ownCopy(created),
            wrappedReleaseKey,
          },
          1,
        ),
      ) as { version: number; wrappedReleaseKey: string };

      // Assess: the other key server can open it with its own copy of the master key.
      const master = { version: 1, key: await unwrapMaster(peer.keys, created.wraps[1]!.wrappedMaster) };
      const opened = unwrapUnderMaster(master, releaseKeyUnderMasterContext({ ...ids, version: 1 }), fromB64(result.wrappedReleaseKey));
      expect(opened.equals(releaseKey)).toBe(true);
    });

    it('fails with WrongContext for a release key wrapped for another release', async () => {
      const created = succeeded(await processRequest(createRequest([account.me.record, peer.record]), 1)) as Wraps;
      const ids = { accountId: account.accountId, appId: newId('app'), releaseId: newId('rel') };
      const wrappedReleaseKey = toB64(
        await hpkeWrap(account.me.keys.encryption.publicKey, releaseKeyToKeyServerContext({ ...ids, releaseId: newId('rel') }), generateReleaseKey()),
      );

      const outcome = await processRequest(
        {
          type: 'rewrap-release-key',
          requestId: newId('req'),
          accountId: account.accountId,
          sentAt: new Date().toISOString(),
          appId: ids.appId,
          releaseId: ids.releaseId,
          version: 1,
          ...ownCopy(created),
          wrappedReleaseKey,
        },
        1,
      );

      expect(outcome).toMatchObject({ outcome: 'failed', error: { code: 'WrongContext' } });
    });
  });

  it('refuses a request for another account', async () => {
    const outcome = await processRequest({ ...createRequest([account.me.record, peer.record]), accountId: newId('acc') }, 1);

    expect(outcome).toMatchObject({ outcome: 'failed', error: { code: 'WrongAccount' } });
  });

  it('keeps only wrapped keys in its files and ids in its log', async () => {
    const created = succeeded(await processRequest(createRequest([account.me.record, peer.record]), 1)) as Wraps;
    const master = await unwrapMaster(account.me.keys, ownCopy(created).wrappedMaster);

    const files = (await readFile(join(dir, 'journal.jsonl'), 'utf8')) + (await readFile(join(dir, 'masters.json'), 'utf8'));
    for (const encoding of ['base64url', 'base64', 'hex'] as const) {
      expect(files).not.toContain(master.toString(encoding));
      expect(log.lines.join('')).not.toContain(master.toString(encoding));
    }
  });
});
