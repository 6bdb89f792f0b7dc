import { randomBytes } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { generateAgentKeys, generateRawKeyPair } from '#shared/crypto/index.ts';
import { signStatement } from '#shared/protocol/statements.ts';
import { agentIdFor, signBinding, signEnrolment, toB64, type AgentBinding, type AgentProof, type EnrolmentStatement } from '#shared/protocol/trust.ts';
import { newAccount } from '../support/accounts.ts';
import { newRequestId, registerOwnerKey, signedEnrolment, startKeyServer, untilAgents } from '../support/agents.ts';
import { localClients, waitFor } from '../support/clients.ts';
import { api } from '../support/http.ts';
import { cliSession } from './cli/run-cli.ts';

const { dynamo, sqs, env } = localClients();
const hex = () => randomBytes(16).toString('hex');

type AuditEvent = { action: string; outcome: string; reason?: string; target?: { type: string; id: string } };

/** A binding to `enrolment` for a fresh agent, signed with the token key and the agent key. */
const bindingFor = (statement: EnrolmentStatement, token: { privateKey: Uint8Array }) => {
  const keys = generateAgentKeys();
  const binding: AgentBinding = {
    v: 1,
    accountId: statement.accountId,
    enrolmentId: statement.enrolmentId,
    agentId: agentIdFor(keys.signing.publicKey),
    role: statement.role,
    encryptionKey: toB64(keys.encryption.publicKey),
    signingKey: toB64(keys.signing.publicKey),
    enrolledAt: new Date().toISOString(),
  };
  return { keys, binding, tokenSignature: signBinding(token.privateKey, binding), agentSignature: signBinding(keys.signing.privateKey, binding) };
};

/**
 * A "key server" a compromised backend writes straight into the directory table: a complete,
 * self-consistent proof and agent statement, except that both are signed by a key that is not the
 * owner's. It heartbeats into the future, so the backend counts it online.
 */
const injectUnsignedKeyServer = async (accountId: string) => {
  const mallory = generateRawKeyPair('ed25519');
  const token = generateRawKeyPair('ed25519');
  const statement: EnrolmentStatement = {
    v: 1,
    accountId,
    enrolmentId: `enr_${hex()}`,
    role: 'keyserver',
    environments: [],
    expiresAt: new Date(Date.now() + 3600_000).toISOString(),
    tokenPublicKey: toB64(token.publicKey),
  };
  const { binding, tokenSignature, agentSignature } = bindingFor(statement, token);
  const proof: AgentProof = { statement, ownerSignature: signEnrolment(mallory.privateKey, statement), binding, tokenSignature, agentSignature };
  const confirmation = signStatement(mallory.privateKey, {
    v: 1,
    kind: 'agent',
    accountId,
    agentId: binding.agentId,
    role: 'keyserver',
    environments: [],
    encryptionKey: binding.encryptionKey,
    signingKey: binding.signingKey,
    status: 'active',
    version: 1,
    issuedAt: new Date().toISOString(),
  });
  // What the backend writes for an agent: the pointer from its id to its account, then the agent.
  await dynamo.send(
    new PutCommand({ TableName: env.DIRECTORY_TABLE!, Item: { pk: `AGENTID#${binding.agentId}`, sk: 'ACCOUNT', kind: 'pointer', accountId } }),
  );
  await dynamo.send(
    new PutCommand({
      TableName: env.DIRECTORY_TABLE!,
      Item: {
        pk: `ACCOUNT#${accountId}`,
        sk: `AGENT#${binding.agentId}`,
        kind: 'agent',
        accountId,
        agentId: binding.agentId,
        name: 'mallory',
        role: 'keyserver',
        environments: [],
        encryptionKey: binding.encryptionKey,
        signingKey: binding.signingKey,
        proof,
        statement: confirmation,
        queueUrl: `${env.AGENT_REPLY_QUEUE_URL}-nowhere`,
        enrolledAt: binding.enrolledAt,
        lastSeenAt: new Date(Date.now() + 3600_000).toISOString(),
      },
    }),
  );
  return { agentId: binding.agentId, record: { agentId: binding.agentId, role: 'keyserver' as const, encryptionKey: binding.encryptionKey, signingKey: binding.signingKey, proof, statement: confirmation } };
};

const masterWraps = async (accountId: string) =>
  (
    await dynamo.send(
      new QueryCommand({
        TableName: env.WRAPPED_KEYS_TABLE!,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': `ACCOUNT#${accountId}`, ':prefix': 'MASTER#' },
        ConsistentRead: true,
      }),
    )
  ).Items ?? [];

describe('an enrolment not signed by the owner', () => {
  it('is refused by the backend: unsigned, or with its owner signature replaced in the table', async () => {
    // Prepare
    const a = await newAccount();
    const ownerKey = await registerOwnerKey(a.owner);
    const mallory = generateRawKeyPair('ed25519');
    const unsigned = await signedEnrolment(a.owner, ownerKey, 'keyserver');
    const swapped = await signedEnrolment(a.owner, ownerKey, 'keyserver');
    expect((await a.owner('PUT', `/enrolments/${swapped.enrolmentId}/signature`, { signature: swapped.signature })).status).toBe(200);
    // Whoever can write the table replaces the owner's signature with one of its own.
    await dynamo.send(
      new UpdateCommand({
        TableName: env.DIRECTORY_TABLE!,
        Key: { pk: `ACCOUNT#${a.accountId}`, sk: `ENROLMENT#${swapped.enrolmentId}` },
        UpdateExpression: 'SET ownerSignature = :s',
        ExpressionAttributeValues: { ':s': signEnrolment(mallory.privateKey, swapped.statement) },
      }),
    );

    // Act
    const post = (enrolment: typeof unsigned) => {
      const { binding, tokenSignature, agentSignature } = bindingFor(enrolment.statement, enrolment.token);
      return api('POST', '/agents', { json: { binding, tokenSignature, agentSignature } });
    };
    const refusedUnsigned = await post(unsigned);
    const refusedSwapped = await post(swapped);

    // Assess: refused with 4xx, nothing enrolled, both enrolments still unused.
    expect(refusedUnsigned.status).toBe(404);
    expect(refusedSwapped.status, JSON.stringify(refusedSwapped.body)).toBe(409);
    expect(refusedSwapped.body.title ?? refusedSwapped.body.detail).toMatch(/not signed by the current owner key/);
    expect((await a.owner('GET', '/agents')).body.items).toEqual([]);
    for (const { enrolmentId } of [unsigned, swapped]) {
      const { Item } = await dynamo.send(new GetCommand({ TableName: env.DIRECTORY_TABLE!, Key: { pk: `ACCOUNT#${a.accountId}`, sk: `ENROLMENT#${enrolmentId}` } }));
      expect(Item?.usedAt).toBeUndefined();
    }
  });

  it('is refused by every key server asked to make it a holder of a new master key: no key is made, each refusal is audited, and none is asked again at once', { timeout: 120_000 }, async () => {
    // Prepare: key server A; then the backend slips in a key server the owner never enrolled;
    // then B enrols, and the backend asks a key server to create master key v1 for A, B and the impostor.
    const cli = await cliSession();
    const account = await cli.signup();
    const a = await startKeyServer(cli, 'a');
    const impostor = await injectUnsignedKeyServer(account.accountId);

    // Act: B enrols; wait until both genuine key servers were asked and refused.
    const b = await startKeyServer(cli, 'b');
    const refusals = await Promise.all([a.process.answered('create-master-key', 'failed', 45_000), b.process.answered('create-master-key', 'failed', 45_000)]);

    // Assess
    for (const refusal of refusals) expect(refusal.code).toBe('UntrustedPeer');
    const events = await cli.until('both refusals in the audit trail', ['audit', 'list', '--limit', '500'], (all: AuditEvent[]) => {
      const found = all.filter((e) => e.action === 'agents:create-master-key' && e.reason?.includes('UntrustedPeer'));
      return found.length >= 2 ? found : undefined;
    }, 10_000);
    for (const event of events) {
      expect(event).toMatchObject({ outcome: 'refused' });
      expect(event.reason).toContain(impostor.agentId);
      expect(event.reason).toContain('not signed by the account owner');
    }
    expect(events.map((e) => e.reason!.match(/^Agent (agt_\w+)/)![1]).sort()).toEqual([a.agentId, b.agentId].sort());
    expect(await masterWraps(account.accountId)).toEqual([]);
    // Every candidate refused: the plan rests instead of asking again at each heartbeat (test/unit/agents/master-key-plan.test.ts).
    const refusedSoFar = [a, b].flatMap((k) => k.process.log.filter((line) => line.msg === 'request answered' && line.type === 'create-master-key'));
    expect(refusedSoFar).toHaveLength(2);
  });

  it('is refused by a key server asked to share its master key with it; nothing is wrapped to it, and the refusal is audited', { timeout: 120_000 }, async () => {
    // Prepare: A and B hold v1. The backend writes the impostor into the table and asks A to
    // share v1 with it, handing A its genuine, signed copy.
    const cli = await cliSession();
    const account = await cli.signup();
    const a = await startKeyServer(cli, 'a');
    await startKeyServer(cli, 'b');
    await untilAgents(cli, 'a and b to hold v1', (l) => ['a', 'b'].every((n) => l[n]?.online && l[n].masterVersions.includes(1)));
    const impostor = await injectUnsignedKeyServer(account.accountId);
    const copy = (await masterWraps(account.accountId)).find((w) => w.agentId === a.agentId)!;
    const { Item: wrapper } = await dynamo.send(new GetCommand({ TableName: env.DIRECTORY_TABLE!, Key: { pk: `ACCOUNT#${account.accountId}`, sk: `AGENT#${copy.wrappedBy}` } }));
    const request = {
      type: 'share-master-key',
      requestId: newRequestId(),
      accountId: account.accountId,
      sentAt: new Date().toISOString(),
      version: 1,
      wrappedMaster: copy.wrappedMaster,
      masterCommitment: copy.commitment,
      masterWrapSignature: copy.signature,
      masterWrapper: { agentId: wrapper!.agentId, role: wrapper!.role, encryptionKey: wrapper!.encryptionKey, signingKey: wrapper!.signingKey, proof: wrapper!.proof, statement: wrapper!.statement },
      recipients: [impostor.record],
    };
    await dynamo.send(
      new PutCommand({
        TableName: env.DIRECTORY_TABLE!,
        Item: {
          pk: `ACCOUNT#${account.accountId}`,
          sk: `REQUEST#${request.requestId}`,
          kind: 'agent-request',
          accountId: account.accountId,
          requestId: request.requestId,
          type: request.type,
          agentId: a.agentId,
          recipients: [impostor.agentId],
          version: 1,
          state: 'pending',
          createdAt: request.sentAt,
        },
      }),
    );

    // Act
    await sqs.send(new SendMessageCommand({ QueueUrl: a.queueUrl, MessageBody: JSON.stringify(request) }));
    const refusal = await waitFor('A to refuse the share', async () =>
      a.process.log.find((line) => line.msg === 'request answered' && line.requestId === request.requestId),
    );

    // Assess
    expect(refusal).toMatchObject({ outcome: 'failed', code: 'UntrustedPeer' });
    const events = await cli.until('the refusal in the audit trail', ['audit', 'list', '--limit', '500'], (all: AuditEvent[]) => {
      const found = all.filter((e) => e.target?.id === request.requestId);
      return found.length ? found : undefined;
    }, 10_000);
    expect(events).toEqual([expect.objectContaining({ action: 'agents:share-master-key', outcome: 'refused' })]);
    expect(events[0]!.reason).toContain(impostor.agentId);
    expect((await masterWraps(account.accountId)).map((w) => w.agentId)).not.toContain(impostor.agentId);
  });
});
