import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  encryptRelease,
  findRelease,
  generateMasterKey,
  generateRawKeyPair,
  generateReleaseKey,
  decodeManifest,
  hpkeUnwrap,
  SIGNATURE_BYTES,
  openKeyList,
  signManifest,
  unwrapUnderMaster,
  verifyGrant,
  wrapUnderMaster,
} from '#shared/crypto/index.ts';
import { deploymentKeyToTargetContext, deploymentKeyUnderMasterContext, grantContext, keyListContext, releasePayloadContext } from '#shared/domain/deploys/contexts.ts';
import { deploy, type AgentRecord, type AgentRequest } from '#shared/protocol/agent-messages.ts';
import { releaseKeyUnderMasterContext } from '#shared/protocol/key-contexts.ts';
import { receiptProblem } from '#shared/protocol/receipts.ts';
import { fromB64, toB64 } from '#shared/protocol/trust.ts';
import { handlersFor } from '#agent/handlers/index.ts';
import { wrapMasterTo } from '#agent/handlers/master-copy.ts';
import { openJournal, type Journal } from '#agent/journal.ts';
import { openMasterPins } from '#agent/master-pins.ts';
import { createRequestProcessor, type RequestProcessor } from '#agent/requests.ts';
import type { Outcome } from '#agent/replies.ts';
import { evidenceFixture } from '../evidence/fixture.ts';
import { accountWithAgent, enrolledPeer, memoryLog, newId, tempDir } from '../agent/fixtures.ts';

const succeeded = (outcome: Outcome) => {
  expect(outcome, JSON.stringify(outcome)).toMatchObject({ outcome: 'succeeded' });
  return (outcome as Extract<Outcome, { outcome: 'succeeded' }>).result;
};

describe('issue-deployment-grant on a key server', () => {
  let account: ReturnType<typeof accountWithAgent>;
  let target: ReturnType<typeof enrolledPeer>;
  let processRequest: RequestProcessor;
  let request: Extract<AgentRequest, { type: 'issue-deployment-grant' }>;
  let releaseKey: Buffer;
  let ids: { accountId: string; appId: string; releaseId: string; environmentId: string; deploymentId: string };
  let master: ReturnType<typeof generateMasterKey>;
  let journal: Journal;
  let evidence: ReturnType<typeof evidenceFixture>;
  afterEach(() => journal.close());

  beforeEach(async () => {
    // Prepare: this key server holds master v1 (a signed copy), a sealed release with a signed
    // manifest, and one target enrolled for the environment.
    account = accountWithAgent();
    target = enrolledPeer(account.owner, account.accountId, { role: 'target' });
    const dir = await tempDir();
    const log = memoryLog();
    journal = await openJournal(join(dir, 'journal.jsonl'), { log });
    const masters = await openMasterPins(join(dir, 'masters.json'));
    processRequest = createRequestProcessor({ self: account.self, handlers: handlersFor('keyserver', dir), journal, masters, log });

    ids = { accountId: account.accountId, appId: newId('app'), releaseId: newId('rel'), environmentId: target.statement.environments[0]!, deploymentId: newId('dep') };
    master = generateMasterKey(1);
    const me = account.me;
    const [copy] = await wrapMasterTo(master, [{ agentId: me.record.agentId, role: 'keyserver', environments: [], encryptionKey: me.keys.encryption.publicKey, signingKey: me.keys.signing.publicKey }], { self: account.self });
    releaseKey = generateReleaseKey();
    const pusher = generateRawKeyPair('ed25519');
    const unsigned = await encryptRelease({ input: Buffer.from('release bytes'), outputPath: join(dir, 'release.lkr'), releaseKey, context: releasePayloadContext(ids) });
    const manifest = signManifest(unsigned, pusher);
    // The owner's statements, the pusher's intent and an approval (test/unit/evidence/fixture.ts), under this account's owner key.
    evidence = evidenceFixture({ owner: account.owner, ids, deployerKey: pusher, manifest, now: Date.now() });
    request = {
      type: 'issue-deployment-grant',
      requestId: newId('req'),
      sentAt: new Date().toISOString(),
      ...ids,
      version: 1,
      wrappedMaster: copy!.wrappedMaster,
      masterCommitment: copy!.commitment,
      masterWrapSignature: copy!.signature,
      masterWrapper: account.me.record,
      wrappedReleaseKey: toB64(wrapUnderMaster(master, releaseKeyUnderMasterContext({ ...ids, version: 1 }), releaseKey)),
      manifest: toB64(manifest),
      evidence: evidence.evidence(),
      targets: [target.record],
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    };
  });

  it('grants the target a deployment key that opens the key list holding the release key', async () => {
    // Act
    const result = deploy.deploymentGrant.parse(succeeded(await processRequest(request, 1)));

    // Assess: the grant verifies for this target, and its wrapped key opens the key list.
    const [granted] = result.grants;
    expect(granted!.agentId).toBe(target.record.agentId);
    verifyGrant(fromB64(granted!.grant), account.me.keys.signing.publicKey, {
      context: grantContext(ids),
      targetAgentId: target.record.agentId,
      targetPublicKey: target.keys.encryption.publicKey,
      manifest: fromB64(request.manifest),
      keyList: fromB64(result.keyList),
      wrappedKey: fromB64(granted!.wrappedDeploymentKey),
      now: Date.now(),
    });
    const deploymentKey = await hpkeUnwrap(target.keys.encryption.privateKey, deploymentKeyToTargetContext(ids), fromB64(granted!.wrappedDeploymentKey));
    const entry = findRelease(openKeyList(deploymentKey, keyListContext(ids), fromB64(result.keyList)), releasePayloadContext(ids));
    expect(Buffer.from(entry.releaseKey).equals(releaseKey)).toBe(true);
    // The deployment key is kept under the master key, for this deployment only.
    expect(unwrapUnderMaster(master, deploymentKeyUnderMasterContext(ids, 1), fromB64(result.deploymentKeyUnderMaster)).equals(deploymentKey)).toBe(true);
    // Its receipt, signed with its own key, says what it granted: this release (by the digest
    // in the manifest it verified), to these targets, until the request's expiry.
    expect(receiptProblem(account.me.keys.signing.publicKey, result.receipt, 'grant-issued')).toBeUndefined();
    expect(result.receipt!.receipt).toMatchObject({
      kind: 'grant-issued',
      agentId: account.me.record.agentId,
      deploymentId: ids.deploymentId,
      releaseId: ids.releaseId,
      environmentId: ids.environmentId,
      digest: Buffer.from(entry.fileDigest).toString('hex'),
      targets: [target.record.agentId],
      expiresAt: request.expiresAt,
      // The evidence it checked, and that the approval in it was signed by the approver.
      evidenceHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      approvals: 'signed',
    });
  });

  it('answers a redelivered request from its journal: the same grant, not a second one', async () => {
    const first = succeeded(await processRequest(request, 1));
    const again = succeeded(await processRequest({ ...request, sentAt: new Date().toISOString() }, 2));
    expect(again).toEqual(first);
  });

  it.each([
    ['a target of another environment', () => enrolledPeer(account.owner, account.accountId, { role: 'target' }).record, /not enrolled for environment/],
    ['a target the owner did not enrol', () => enrolledPeer(account.owner, account.accountId, { role: 'target', enrolmentSigner: generateRawKeyPair('ed25519') }).record, /not signed by the account owner/],
  ] as [string, () => AgentRecord, RegExp][])('refuses the whole request for %s, before any key is opened', async (_name, extra, why) => {
    const outcome = await processRequest({ ...request, targets: [target.record, extra()] }, 1);
    expect(outcome).toMatchObject({ outcome: 'failed', error: { code: 'UntrustedPeer', message: expect.stringMatching(why) } });
  });

  it('refuses a manifest that another key signed: the pusher the evidence names did not sign it', async () => {
    const other = signManifest(decodeManifestBody(fromB64(request.manifest)), generateRawKeyPair('ed25519'));
    const outcome = await processRequest({ ...request, manifest: toB64(other) }, 1);
    expect(outcome).toMatchObject({ outcome: 'failed' });
  });

  it('refuses without complete evidence, naming what is missing, before any key is opened', async () => {
    const outcome = await processRequest({ ...request, evidence: evidence.evidence({ approvals: [] }) }, 1);
    expect(outcome).toMatchObject({ outcome: 'failed', error: { code: 'NotEnoughApprovals', message: expect.stringContaining('needs 1 signed approval') } });
  });

  it('grants a deployment once: another request for the same deployment id is refused', async () => {
    succeeded(await processRequest(request, 1));
    const again = await processRequest({ ...request, requestId: newId('req') }, 1);
    expect(again).toMatchObject({ outcome: 'failed', error: { code: 'AlreadyGranted' } });
  });
});

/** The unsigned manifest a signed one holds, to sign it with another key. */
const decodeManifestBody = (signed: Buffer) => {
  const { signerKeyId: _signer, ...unsigned } = decodeManifest(signed.subarray(0, signed.byteLength - SIGNATURE_BYTES));
  return unsigned;
};
