import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { generateAgentKeys, generateRawKeyPair } from '#shared/crypto/index.ts';
import type { AgentRequest } from '#shared/protocol/agent-messages.ts';
import { agentFingerprint, normaliseFingerprint, toB64 } from '#shared/protocol/trust.ts';
import { handlersFor } from '#agent/handlers/index.ts';
import { trustedPeer } from '#agent/handlers/peers.ts';
import { RequestRefused } from '#agent/handlers/types.ts';
import { openJournal } from '#agent/journal.ts';
import { openMasterPins } from '#agent/master-pins.ts';
import { createRequestProcessor } from '#agent/requests.ts';
import { openStatementPins } from '#agent/statement-pins.ts';
import { accountWithAgent, agentStatementFor, enrolledPeer, memoryLog, newId, tempDir } from './fixtures.ts';

const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RequestRefused);
    return (error as RequestRefused).message;
  }
  throw new Error('expected a refusal');
};

describe('a peer counts only with the owner’s active agent statement for its very keys', () => {
  let account: ReturnType<typeof accountWithAgent>;
  beforeEach(() => {
    account = accountWithAgent();
  });

  it('accepts a confirmed peer, taking its environments from the statement, and pins the statement’s version', () => {
    const peer = enrolledPeer(account.owner, account.accountId, { role: 'target', confirmed: { version: 3 } });
    const trusted = trustedPeer(peer.record, account.self, { role: 'target' });
    expect(trusted.environments).toEqual(peer.statement.environments);
    expect(account.self.statements.pinned(`agent:${peer.record.agentId}`)).toBe(3);
  });

  it.each([
    ['it was never confirmed (an enrolment token used by someone else)', { confirmed: false as const }, 'the account owner has not confirmed it'],
    ['its statement is not signed by the owner key', { confirmed: { signer: generateRawKeyPair('ed25519') } }, 'is not signed by the account owner key'],
    ['the owner removed it', { confirmed: { status: 'removed' as const, version: 2 } }, 'the account owner removed it (agent statement version 2)'],
    ['the owner confirmed other keys', { confirmed: { encryptionKey: toB64(generateRawKeyPair('x25519').publicKey) } }, 'confirmed other keys or another role'],
  ])('refuses a peer when %s', (_why, options, message) => {
    const peer = enrolledPeer(account.owner, account.accountId, options);
    expect(refusal(() => trustedPeer(peer.record, account.self, { role: 'keyserver' }))).toContain(message);
  });

  it('refuses the statement of another agent attached to a record (the owner’s genuine word, about someone else)', () => {
    const genuine = enrolledPeer(account.owner, account.accountId);
    const impostor = enrolledPeer(account.owner, account.accountId, { confirmed: false });
    expect(refusal(() => trustedPeer({ ...impostor.record, statement: genuine.record.statement! }, account.self, { role: 'keyserver' }))).toContain(`is not about ${impostor.record.agentId}`);
  });

  it('once it saw the owner remove a peer, refuses the earlier statement that shows it active', () => {
    const peer = enrolledPeer(account.owner, account.accountId);
    const removed = { ...peer.record, statement: agentStatementFor(account.owner, peer.record, { status: 'removed', version: 2 }) };
    refusal(() => trustedPeer(removed, account.self, { role: 'keyserver' }));
    // The backend restores the peer with the owner's genuine version 1.
    expect(refusal(() => trustedPeer(peer.record, account.self, { role: 'keyserver' }))).toContain('older than version 2, already seen');
  });

  it('agentFingerprint covers both keys, and reads the way people type it', () => {
    const keys = generateAgentKeys();
    const other = generateAgentKeys();
    const fingerprint = agentFingerprint({ signingKey: keys.signing.publicKey, encryptionKey: keys.encryption.publicKey });
    expect(fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(agentFingerprint({ signingKey: keys.signing.publicKey, encryptionKey: other.encryption.publicKey })).not.toBe(fingerprint);
    expect(normaliseFingerprint(fingerprint.toUpperCase().replace(/(.{4})/g, '$1:'))).toBe(fingerprint);
  });
});

describe('learn-statements', () => {
  const setup = async () => {
    const account = accountWithAgent();
    const dir = await tempDir();
    const log = memoryLog();
    const statements = await openStatementPins(join(dir, 'statements.json'));
    const self = { ...account.self, statements };
    const process = createRequestProcessor({ self, handlers: handlersFor('target', dir), journal: await openJournal(join(dir, 'journal.jsonl'), { log }), masters: await openMasterPins(join(dir, 'masters.json')), log });
    const request = (signed: ReturnType<typeof agentStatementFor>[]): AgentRequest => ({ type: 'learn-statements', requestId: newId('req'), accountId: account.accountId, sentAt: new Date().toISOString(), statements: signed });
    return { account, dir, self, process, request };
  };

  it('pins each owner statement it is sent, on disk before it answers; a peer shown the earlier one afterwards is refused', async () => {
    const { account, dir, self, process, request } = await setup();
    const peer = enrolledPeer(account.owner, account.accountId);
    const removal = agentStatementFor(account.owner, peer.record, { status: 'removed', version: 2 });

    expect(await process(request([removal]), 1)).toEqual({ outcome: 'succeeded', result: { learned: 1 } });

    expect(JSON.parse(await readFile(join(dir, 'statements.json'), 'utf8')).pins).toEqual({ [`agent:${peer.record.agentId}`]: 2 });
    const reopened = await openStatementPins(join(dir, 'statements.json'));
    expect(refusal(() => trustedPeer(peer.record, { ...self, statements: reopened }, { role: 'keyserver' }))).toContain('older than version 2');
  });

  it('refuses, pinning nothing, when one statement is not the owner’s', async () => {
    const { account, dir, process, request } = await setup();
    const peer = enrolledPeer(account.owner, account.accountId);
    const genuine = agentStatementFor(account.owner, peer.record, { status: 'removed', version: 2 });
    const forged = agentStatementFor(account.owner, peer.record, { version: 9, signer: generateRawKeyPair('ed25519') });

    expect(await process(request([genuine, forged]), 1)).toMatchObject({ outcome: 'failed', error: { code: 'UntrustedStatement' } });
    await expect(readFile(join(dir, 'statements.json'), 'utf8')).rejects.toThrow();
  });
});
