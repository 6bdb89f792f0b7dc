import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { newAccount } from '../support/accounts.ts';
import { enrolAgent, newRequestId, registerOwnerKey } from '../support/agents.ts';
import { localClients, waitFor } from '../support/clients.ts';

const { sqs, dynamo, env } = localClients();
const send = (message: unknown) => sqs.send(new SendMessageCommand({ QueueUrl: env.AGENT_REPLY_QUEUE_URL!, MessageBody: JSON.stringify(message) }));
const ONLINE_SECONDS = 5; // the integration stack's AGENT_ONLINE_SECONDS

const itemOf = async (accountId: string, sk: string) =>
  (await dynamo.send(new GetCommand({ TableName: env.DIRECTORY_TABLE!, Key: { pk: `ACCOUNT#${accountId}`, sk }, ConsistentRead: true }))).Item;

/** Liveness is the backend's clock (DESIGN §6): what an agent claims about time never keeps it online. */
describe('agent liveness', () => {
  it('is the time the backend received the heartbeat; a heartbeat dated far ahead, or one replayed later, keeps nobody online', { timeout: 60_000 }, async () => {
    // Prepare: an enrolled key server (its keys in the test), and a heartbeat it signed now.
    const a = await newAccount();
    const agent = await enrolAgent(a.owner, await registerOwnerKey(a.owner));
    const online = async () => ((await a.owner('GET', '/agents')).body.items as { agentId: string; online: boolean }[]).find((i) => i.agentId === agent.agentId)!.online;
    const captured = agent.heartbeat();

    // Act 1: the genuine heartbeat.
    const sentAt = Date.now();
    await send(captured);
    const seen = await waitFor('the heartbeat to count', async () => {
      const item = await itemOf(a.accountId, `AGENT#${agent.agentId}`);
      return item?.lastHeartbeatAt === captured.at ? item : undefined;
    });
    // Assess 1: lastSeenAt is when SQS took it, not the time the agent wrote.
    expect(Math.abs(Date.parse(seen.lastSeenAt as string) - sentAt)).toBeLessThan(2000);
    expect(await online()).toBe(true);

    // Act 2: a heartbeat signed by the agent's own key, dated a year ahead (the old rule kept the
    // agent online until then), and the captured one replayed once the agent looks offline.
    const future = { type: 'heartbeat', accountId: a.accountId, agentId: agent.agentId, at: new Date(Date.now() + 365 * 86400_000).toISOString() };
    await send(agent.sign(future));
    await waitFor('the agent to be offline', async () => ((await online()) ? undefined : true), (ONLINE_SECONDS + 5) * 1000);
    await send(captured);
    // A marker behind them: once it counts, the two before it were consumed.
    const marker = agent.heartbeat();
    await send(marker);
    await waitFor('the marker heartbeat to count', async () => ((await itemOf(a.accountId, `AGENT#${agent.agentId}`))?.lastHeartbeatAt === marker.at ? true : undefined));

    // Assess 2: neither counted; only the fresh marker did (and with the receipt time).
    const after = await itemOf(a.accountId, `AGENT#${agent.agentId}`);
    expect(after!.lastHeartbeatAt).toBe(marker.at);
    expect(after!.lastHeartbeatAt).not.toBe(future.at);
  });

  it('an acknowledgement counts only from the agent the request went to, and is recorded once', { timeout: 30_000 }, async () => {
    // Prepare: two key servers; a request recorded for the first, as the backend sends one.
    const a = await newAccount();
    const ownerKey = await registerOwnerKey(a.owner);
    const asked = await enrolAgent(a.owner, ownerKey);
    const other = await enrolAgent(a.owner, ownerKey);
    const requestId = newRequestId();
    await dynamo.send(
      new PutCommand({
        TableName: env.DIRECTORY_TABLE!,
        Item: { pk: `ACCOUNT#${a.accountId}`, sk: `REQUEST#${requestId}`, kind: 'agent-request', accountId: a.accountId, requestId, type: 'share-master-key', agentId: asked.agentId, version: 1, state: 'pending', createdAt: new Date().toISOString() },
      }),
    );
    const ack = (by: typeof asked) => by.sign({ type: 'ack', accountId: a.accountId, agentId: by.agentId, requestId });

    // Act: the other key server claims to have taken it; then the one asked does.
    await send(ack(other));
    const refused = await waitFor('the other key server’s acknowledgement to be refused', async () => {
      const events = (await a.owner('GET', '/audit?limit=100')).body.items as { action: string; reason?: string }[];
      return events.find((e) => e.action === 'agents:message-refused' && e.reason?.startsWith('NotThisAgentsRequest'));
    });
    expect((await itemOf(a.accountId, `REQUEST#${requestId}`))!.acknowledgedAt).toBeUndefined();
    await send(ack(asked));

    // Assess: recorded once, from the agent asked.
    const first = await waitFor('the acknowledgement to be recorded', async () => (await itemOf(a.accountId, `REQUEST#${requestId}`))?.acknowledgedAt as string | undefined);
    expect(refused.reason).toContain(other.agentId);
    await send(ack(asked));
    const marker = asked.heartbeat();
    await send(marker);
    await waitFor('the marker heartbeat to count', async () => ((await itemOf(a.accountId, `AGENT#${asked.agentId}`))?.lastHeartbeatAt === marker.at ? true : undefined));
    expect((await itemOf(a.accountId, `REQUEST#${requestId}`))!.acknowledgedAt).toBe(first);
  });
});
