import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentReply, heartbeat, unsigned, type AgentRequest } from '#shared/protocol/agent-messages.ts';
import { fromB64, verifyAgentMessage } from '#shared/protocol/trust.ts';
import { keyServerHandlers } from '#agent/handlers/key-server.ts';
import { openJournal } from '#agent/journal.ts';
import { openMasterPins } from '#agent/master-pins.ts';
import { handleMessage, runLoop } from '#agent/queue-loop.ts';
import { createRequestProcessor, type RequestProcessor } from '#agent/requests.ts';
import type { AgentQueue, ReceivedMessage } from '#agent/sqs.ts';
import { accountWithAgent, enrolledPeer, memoryLog, newId, tempDir } from './fixtures.ts';

/** An in-memory queue recording what the agent did, in order. */
const fakeQueue = (batches: ReceivedMessage[][] = []) => {
  const events: string[] = [];
  const sent: string[] = [];
  const queue: AgentQueue & { failSend?: boolean } = {
    receive: async () => batches.shift() ?? [],
    delete: async (receiptHandle) => void events.push(`delete ${receiptHandle}`),
    send: async (body) => {
      if (queue.failSend) throw new Error('network down');
      sent.push(body);
      events.push(`send ${(JSON.parse(body) as { type: string }).type}`);
    },
  };
  return { queue, events, sent };
};

const message = (body: unknown, n = 1): ReceivedMessage => ({
  messageId: `m-${n}`,
  receiptHandle: `rh-${n}`,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  receiveCount: 1,
});

const setup = async () => {
  const account = accountWithAgent();
  const peer = enrolledPeer(account.owner, account.accountId);
  const dir = await tempDir();
  const log = memoryLog();
  const journal = await openJournal(join(dir, 'journal.jsonl'), { log });
  const masters = await openMasterPins(join(dir, 'masters.json'));
  const process = createRequestProcessor({ self: account.self, handlers: keyServerHandlers, journal, masters, log });
  const signer = { accountId: account.accountId, agentId: account.self.agentId, signingSeed: account.me.keys.signing.privateKey };
  const request: AgentRequest = {
    type: 'create-master-key',
    requestId: newId('req'),
    accountId: account.accountId,
    taskToken: 'token-abc',
    sentAt: new Date().toISOString(),
    version: 1,
    holders: [account.me.record, peer.record],
  };
  return { account, log, process, signer, request };
};

describe('queue loop', () => {
  it('sends a signed reply carrying the task token, then deletes the request', async () => {
    const { account, log, process, signer, request } = await setup();
    const { queue, events, sent } = fakeQueue();

    await handleMessage(message(request), { queue, process, signer, log });

    expect(events).toEqual(['send reply', 'delete rh-1']);
    const reply = agentReply.parse(JSON.parse(sent[0]!));
    expect(reply).toMatchObject({ requestId: request.requestId, accountId: account.accountId, agentId: account.self.agentId, taskToken: 'token-abc', outcome: 'succeeded' });
    expect(verifyAgentMessage(account.me.keys.signing.publicKey, unsigned(reply), reply.signature)).toBe(true);
  });

  it('deletes a malformed request and logs its ids only', async () => {
    const { log, process, signer, request } = await setup();
    const { queue, events } = fakeQueue();
    const secretish = 'A'.repeat(64);

    await handleMessage(message({ ...request, version: 'one', wrappedMaster: secretish }), { queue, process, signer, log });
    await handleMessage(message('not json', 2), { queue, process, signer, log });

    expect(events).toEqual(['delete rh-1', 'delete rh-2']);
    const lines = log.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'malformed request dropped', messageId: 'm-1', requestId: request.requestId }));
    expect(log.lines.join('')).not.toContain(secretish);
  });

  it('leaves a request whose reply could not be sent for redelivery, which then gets the same answer', async () => {
    const { process, signer, log, request } = await setup();
    const { queue, events, sent } = fakeQueue();
    queue.failSend = true;

    await expect(handleMessage(message(request), { queue, process, signer, log })).rejects.toThrow('network down');
    expect(events).toEqual([]);

    queue.failSend = false;
    await handleMessage(message(request), { queue, process, signer, log });
    await handleMessage(message(request), { queue, process, signer, log });
    const [first, second] = sent.map((body) => agentReply.parse(JSON.parse(body)));
    expect(first!.outcome === 'succeeded' && first!.result).toEqual(second!.outcome === 'succeeded' && second!.result);
  });

  it('leaves a request failing for a transient reason on the queue', async () => {
    const { signer, log, request } = await setup();
    const { queue, events } = fakeQueue();
    const flaky: RequestProcessor = async () => {
      throw new Error('disk full');
    };

    await runLoop({ queue: { ...queue, receive: async () => [message(request)] }, process: flaky, signer, log, heartbeatSeconds: 60, once: true, signal: new AbortController().signal, onCredentialError: () => {} });

    expect(events).toEqual(['send heartbeat']);
    expect(log.lines.some((line) => line.includes('request left for redelivery'))).toBe(true);
  });

  it('heartbeats with a signed message, polls once with --once, and stops when aborted', async () => {
    const { account, process, signer, log, request } = await setup();
    const { queue, events, sent } = fakeQueue([[message(request)]]);

    await runLoop({ queue, process, signer, log, heartbeatSeconds: 60, once: true, signal: new AbortController().signal, onCredentialError: () => {} });

    expect(events).toEqual(['send heartbeat', 'send reply', 'delete rh-1']);
    const beat = heartbeat.parse(JSON.parse(sent[0]!));
    expect(verifyAgentMessage(fromB64(account.me.record.signingKey), unsigned(beat), beat.signature)).toBe(true);

    const stop = new AbortController();
    let polls = 0;
    const stopping = runLoop({
      queue: { ...queue, receive: async () => (++polls === 2 && stop.abort(), []) },
      process,
      signer,
      log,
      heartbeatSeconds: 60,
      once: false,
      signal: stop.signal,
      onCredentialError: () => {},
    });
    await expect(stopping).resolves.toBeUndefined();
    expect(polls).toBe(2);
  });
});
