import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { generateRawKeyPair, hpkeUnwrap, loadAgentKeys } from '#shared/crypto/index.ts';
import { masterKeyContext } from '#shared/protocol/key-contexts.ts';
import { formatEnrolmentToken, fromB64, signEnrolment, toB64 } from '#shared/protocol/trust.ts';
import { newAccount } from '../../support/accounts.ts';
import { agentCli, confirmOverApi, enrolAgentProcess, enrolledAs } from '../../support/agents.ts';
import { localClients, waitFor } from '../../support/clients.ts';

const { sqs, endpoints } = localClients();

/**
 * The owner's side through the API (owner key, enrolment, signature, agent statement), the
 * agent's side through the binary (init, enrol, run --once): the path an operator takes.
 */
const enrolKeyServer = async (account: Awaited<ReturnType<typeof newAccount>>, owner: ReturnType<typeof generateRawKeyPair>) => {
  const token = generateRawKeyPair('ed25519');
  const created = await account.owner('POST', '/enrolments', { role: 'keyserver', tokenPublicKey: toB64(token.publicKey) });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const signed = await account.owner('PUT', `/enrolments/${created.body.enrolmentId}/signature`, {
    signature: signEnrolment(owner.privateKey, created.body.statement),
  });
  expect(signed.status, JSON.stringify(signed.body)).toBe(200);

  const agent = await enrolAgentProcess({ endpoint: endpoints.api, ownerKey: toB64(owner.publicKey), token: formatEnrolmentToken(created.body.enrolmentId, token.privateKey), name: 'ks' });
  await confirmOverApi(account.owner, owner, await enrolledAs(agent.state));
  return agent;
};

describe('latchkey-agent as a key server, against the local stack', () => {
  it('enrols, opens a session, heartbeats and answers the backend’s create-master-key with a key both key servers can open', async () => {
    // Prepare: an account with an owner key and two key servers enrolled through the binary.
    const account = await newAccount();
    const owner = generateRawKeyPair('ed25519');
    const registered = await account.owner('PUT', '/account/owner-key', { publicKey: toB64(owner.publicKey) });
    expect(registered.status, JSON.stringify(registered.body)).toBe(200);
    const first = await enrolKeyServer(account, owner);
    const second = await enrolKeyServer(account, owner);

    // Act: one run of the newcomer: its heartbeat makes it the one online key server, so the
    // backend asks it to create master key v1 for both (DESIGN §5), and its poll takes the request.
    const { stderr } = await agentCli(['run', '--state', second.state, '--once', '--log-level', 'debug']);

    // Assess: answered and deleted; the backend recorded both copies; both open to one key.
    // Only the agent's JSON lines: Node itself may print warnings on stderr too.
    const logLines = stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logLines).toContainEqual(expect.objectContaining({ msg: 'heartbeat sent' }));
    expect(logLines).toContainEqual(expect.objectContaining({ msg: 'request answered', type: 'create-master-key', outcome: 'succeeded' }));
    const listed = await waitFor('both key servers to hold version 1, and the newcomer to be online', async () => {
      const items = (await account.owner('GET', '/agents')).body.items as { agentId: string; masterVersions: number[]; online: boolean }[];
      const ok = items.length === 2 && items.every((i) => i.masterVersions.includes(1)) && items.find((i) => i.agentId === second.agentId)?.online;
      return ok ? items : undefined;
    });
    expect(listed.map((i) => i.agentId).sort()).toEqual([first.agentId, second.agentId].sort());

    const journal = (await readFile(path.join(second.state, 'journal.jsonl'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line));
    const wraps = journal.find((entry) => entry.type === 'create-master-key').result.wraps as { agentId: string; wrappedMaster: string }[];
    const context = masterKeyContext({ accountId: account.accountId, version: 1 });
    const open = async (agent: typeof first) =>
      hpkeUnwrap((await loadAgentKeys(path.join(agent.state, 'agent.key'))).encryption.privateKey, context, fromB64(wraps.find((w) => w.agentId === agent.agentId)!.wrappedMaster));
    expect((await open(first)).equals(await open(second))).toBe(true);
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: second.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
    );
    expect(Attributes).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
  });
});
