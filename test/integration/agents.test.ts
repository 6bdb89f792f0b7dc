import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateAgentKeys, generateRawKeyPair } from '#shared/crypto/index.ts';
import { agentIdFor, signBinding, signSessionChallenge, toB64, type AgentBinding } from '#shared/protocol/trust.ts';
import { newAccount } from '../support/accounts.ts';
import { enrolAgent, registerOwnerKey, signedEnrolment } from '../support/agents.ts';
import { localClients, waitFor } from '../support/clients.ts';
import { api } from '../support/http.ts';

const { sqs, env } = localClients();

const send = (message: unknown) => sqs.send(new SendMessageCommand({ QueueUrl: env.AGENT_REPLY_QUEUE_URL!, MessageBody: JSON.stringify(message) }));

/**
 * An account with two key servers, online by their heartbeats, one of which (`second`, whichever
 * the backend picked) was just asked to create master key version 1 for both, and took it.
 */
const twoKeyServers = async () => {
  const a = await newAccount();
  const ownerKey = await registerOwnerKey(a.owner);
  const agents = [await enrolAgent(a.owner, ownerKey), await enrolAgent(a.owner, ownerKey)];
  const beat = () => Promise.all(agents.map((agent) => send(agent.heartbeat())));
  await beat();
  const heartbeats = setInterval(() => void beat(), 1000);
  onTestFinished(() => clearInterval(heartbeats));
  const { second, request } = await waitFor('the create-master-key request', async () => {
    for (const agent of agents) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: agent.queueUrl, WaitTimeSeconds: 0 }));
      if (Messages[0]) return { second: agent, request: JSON.parse(Messages[0].Body!) };
    }
    return undefined;
  });
  await send(second.sign({ type: 'ack', accountId: a.accountId, agentId: second.agentId, requestId: request.requestId }));
  const first = agents.find((agent) => agent !== second)!;
  return { a, first, second, request };
};

describe('owner key, enrolments and agents', () => {
  it('registers the owner key once; another key is refused, the same one is fine', async () => {
    const a = await newAccount();
    const key = await registerOwnerKey(a.owner);
    expect((await a.owner('PUT', '/account/owner-key', { publicKey: toB64(key.publicKey) })).status).toBe(200);
    expect((await a.owner('PUT', '/account/owner-key', { publicKey: toB64(generateRawKeyPair('ed25519').publicKey) })).status).toBe(409);
    expect((await a.deployer.call('PUT', '/account/owner-key', { publicKey: toB64(key.publicKey) })).status).toBe(403);
    expect((await a.owner('GET', '/me')).body.ownerKey.publicKey).toBe(toB64(key.publicKey));
  });

  it('enrols an agent only with an enrolment signed by the owner key, once', async () => {
    const a = await newAccount();
    const ownerKey = await registerOwnerKey(a.owner);
    const mallory = generateRawKeyPair('ed25519');

    // An enrolment signed by any other key is refused by the backend.
    const forged = await signedEnrolment(a.owner, mallory, 'keyserver');
    const refused = await a.owner('PUT', `/enrolments/${forged.enrolmentId}/signature`, { signature: forged.signature });
    expect(refused.status).toBe(400);
    expect((await api('GET', `/enrolments/${forged.enrolmentId}`)).status).toBe(404); // unsigned: not offered

    const agent = await enrolAgent(a.owner, ownerKey);
    expect(agent.agentId).toBe(agentIdFor(agent.keys.signing.publicKey));
    const listed = (await a.owner('GET', '/agents')).body.items;
    expect(listed).toEqual([expect.objectContaining({ agentId: agent.agentId, role: 'keyserver', online: false, masterVersions: [] })]);
  });

  it('refuses a binding not signed with the enrolment token, a swapped key, and a reused enrolment', async () => {
    const a = await newAccount();
    const ownerKey = await registerOwnerKey(a.owner);
    const enrolment = await signedEnrolment(a.owner, ownerKey, 'keyserver');
    expect((await a.owner('PUT', `/enrolments/${enrolment.enrolmentId}/signature`, { signature: enrolment.signature })).status).toBe(200);
    const keys = generateAgentKeys();
    const binding: AgentBinding = {
      v: 1,
      accountId: a.accountId,
      enrolmentId: enrolment.enrolmentId,
      agentId: agentIdFor(keys.signing.publicKey),
      role: 'keyserver',
      encryptionKey: toB64(keys.encryption.publicKey),
      signingKey: toB64(keys.signing.publicKey),
      enrolledAt: new Date().toISOString(),
    };
    const post = (body: unknown) => api('POST', '/agents', { json: body });
    const good = { binding, tokenSignature: signBinding(enrolment.token.privateKey, binding), agentSignature: signBinding(keys.signing.privateKey, binding) };

    // Without the token's secret half (the backend never had it), no binding verifies.
    expect((await post({ ...good, tokenSignature: signBinding(generateRawKeyPair('ed25519').privateKey, binding) })).status).toBe(400);
    // Someone else's encryption key put in the binding after it was signed.
    const swapped = { ...binding, encryptionKey: toB64(generateAgentKeys().encryption.publicKey) };
    expect((await post({ ...good, binding: swapped })).status).toBe(400);
    // A target's role claimed on a key server enrolment.
    expect((await post({ ...good, binding: { ...binding, role: 'target' } })).status).toBe(400);

    expect((await post(good)).status).toBe(201);
    expect((await post(good)).status).toBe(409);
  });

  it('gives a session only for a fresh challenge signed with the agent key, never twice', async () => {
    const a = await newAccount();
    const agent = await enrolAgent(a.owner, await registerOwnerKey(a.owner));
    const at = new Date().toISOString();
    const session = await api('POST', `/agents/${agent.agentId}/session`, { json: { at, signature: signSessionChallenge(agent.keys.signing.privateKey, agent.agentId, at) } });
    expect(session.status).toBe(200);
    expect(session.body).toMatchObject({ agentId: agent.agentId, queueUrl: agent.queueUrl, replyQueueUrl: env.AGENT_REPLY_QUEUE_URL, heartbeatSeconds: 1 });
    expect(session.body.credentials.expiration).toEqual(expect.any(String));

    const replay = await api('POST', `/agents/${agent.agentId}/session`, { json: { at, signature: signSessionChallenge(agent.keys.signing.privateKey, agent.agentId, at) } });
    expect(replay.status).toBe(401);
    const old = new Date(Date.now() - 10 * 60_000).toISOString();
    expect((await api('POST', `/agents/${agent.agentId}/session`, { json: { at: old, signature: signSessionChallenge(agent.keys.signing.privateKey, agent.agentId, old) } })).status).toBe(401);
    const later = new Date(Date.now() + 1000).toISOString();
    const otherKey = generateRawKeyPair('ed25519');
    expect((await api('POST', `/agents/${agent.agentId}/session`, { json: { at: later, signature: signSessionChallenge(otherKey.privateKey, agent.agentId, later) } })).status).toBe(401);
  });

  it('asks one online key server to create master key version 1 for both, and stores only the wraps it returns', async () => {
    const { a, first, second, request } = await twoKeyServers();
    expect(request).toMatchObject({ type: 'create-master-key', version: 1, accountId: a.accountId });
    expect(request.holders.map((h: { agentId: string }) => h.agentId).sort()).toEqual([first.agentId, second.agentId].sort());

    // The key server answers with one wrap per holder, plus one for an agent it was not asked about.
    const wraps = [first, second, { agentId: `agt_${'e'.repeat(32)}` }].map((h) => second.masterCopy(h.agentId, 1, toB64(Buffer.alloc(64, 7))));
    await send(second.sign({ type: 'reply', accountId: a.accountId, agentId: second.agentId, requestId: request.requestId, outcome: 'succeeded', result: { version: 1, wraps } }));

    const listed = await waitFor('both to hold version 1 and be online', async () => {
      const items = (await a.owner('GET', '/agents')).body.items as { agentId: string; masterVersions: number[]; online: boolean }[];
      return items.length === 2 && items.every((i) => i.masterVersions.includes(1) && i.online) ? items : undefined;
    });
    expect(listed.map((i) => i.agentId).sort()).toEqual([first.agentId, second.agentId].sort());

    // Two online key servers: an application can now be made secure.
    const app = (await a.owner('POST', '/apps', { name: 'vault' })).body;
    expect((await a.owner('PATCH', `/apps/${app.appId}`, { secure: true })).body.secure).toBe(true);
  });

  it('refuses a create-master-key reply with a copy its key server did not sign: nothing is stored, the refusal is audited', async () => {
    // Prepare
    const { a, first, second, request } = await twoKeyServers();

    // Act: the reply is signed by the key server, but the copy for `first` was signed by `first`.
    const wraps = [second.masterCopy(second.agentId, 1, toB64(Buffer.alloc(64, 7))), first.masterCopy(first.agentId, 1, toB64(Buffer.alloc(64, 8)))];
    await send(second.sign({ type: 'reply', accountId: a.accountId, agentId: second.agentId, requestId: request.requestId, outcome: 'succeeded', result: { version: 1, wraps } }));

    // Assess
    const events = await waitFor('the refusal in the audit trail', async () => {
      const found = ((await a.owner('GET', '/audit?limit=100')).body.items as { action: string; outcome: string; reason?: string; target?: { id: string } }[]).filter(
        (e) => e.action === 'agents:create-master-key' && e.target?.id === request.requestId,
      );
      return found.length ? found : undefined;
    });
    expect(events).toEqual([expect.objectContaining({ outcome: 'refused', reason: expect.stringContaining(`BadWrapSignature: the copy for ${first.agentId} is not signed by ${second.agentId}`) })]);
    const items = (await a.owner('GET', '/agents')).body.items as { masterVersions: number[] }[];
    expect(items.flatMap((i) => i.masterVersions)).toEqual([]);
  });
});
