import { join } from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { acknowledgement, agentReply, heartbeat, unsigned, type AgentRequest } from '#shared/protocol/agent-messages.ts';
import { fromB64, verifyAgentMessage } from '#shared/protocol/trust.ts';
import { keyServerHandlers } from '#agent/handlers/key-server.ts';
import { openJournal } from '#agent/journal.ts';
import { openMasterPins } from '#agent/master-pins.ts';
import { ACK_EVERY_MS, handleMessage, runLoop } from '#agent/queue-loop.ts';
import { evidenceFixture } from '../evidence/fixture.ts';
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

    expect(events).toEqual(['send ack', 'send reply', 'delete rh-1']);
    const reply = agentReply.parse(JSON.parse(sent[1]!));
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
    const [first, second] = sent.filter((body) => body.includes('"reply"')).map((body) => agentReply.parse(JSON.parse(body)));
    expect(first!.outcome === 'succeeded' && first!.result).toEqual(second!.outcome === 'succeeded' && second!.result);
  });

  it('leaves a request failing for a transient reason on the queue', async () => {
    const { signer, log, request } = await setup();
    const { queue, events } = fakeQueue();
    const flaky: RequestProcessor = async () => {
      throw new Error('disk full');
    };

    await runLoop({ queue: { ...queue, receive: async () => [message(request)] }, process: flaky, signer, log, heartbeatSeconds: 60, once: true, signal: new AbortController().signal, onCredentialError: () => {} });

    expect(events).toEqual(['send heartbeat', 'send ack']);
    expect(log.lines.some((line) => line.includes('request left for redelivery'))).toBe(true);
  });

  it('heartbeats with a signed message, polls once with --once, and stops when aborted', async () => {
    const { account, process, signer, log, request } = await setup();
    const { queue, events, sent } = fakeQueue([[message(request)]]);

    await runLoop({ queue, process, signer, log, heartbeatSeconds: 60, once: true, signal: new AbortController().signal, onCredentialError: () => {} });

    expect(events).toEqual(['send heartbeat', 'send ack', 'send reply', 'delete rh-1']);
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

  it('acknowledges a key-server request as it takes it and every ACK_EVERY_MS while it works on it, then stops', async () => {
    // Prepare: a request that takes a while to answer; time for the acknowledgements is faked.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    onTestFinished(() => void vi.useRealTimers());
    const { account, signer, log, request } = await setup();
    const { queue, events, sent } = fakeQueue();
    let finish!: () => void;
    const slow: RequestProcessor = () => new Promise((resolve) => (finish = () => resolve({ outcome: 'succeeded', result: { done: true } })));

    // Act: take it, let two intervals pass, answer.
    const handling = handleMessage(message(request), { queue, process: slow, signer, log });
    await vi.waitFor(() => expect(events).toEqual(['send ack']));
    vi.advanceTimersByTime(ACK_EVERY_MS * 2);
    finish();
    await handling;
    vi.advanceTimersByTime(ACK_EVERY_MS * 3);

    // Assess: three acknowledgements, each signed and naming the request and its task token; none after the reply.
    await vi.waitFor(() => expect(events).toEqual(['send ack', 'send ack', 'send ack', 'send reply', 'delete rh-1']));
    for (const body of sent.slice(0, 3)) {
      const ack = acknowledgement.parse(JSON.parse(body));
      expect(ack).toMatchObject({ requestId: request.requestId, agentId: account.self.agentId, taskToken: 'token-abc' });
      expect(verifyAgentMessage(account.me.keys.signing.publicKey, unsigned(ack), ack.signature)).toBe(true);
    }
  });

  it('does not acknowledge an install, and answers key requests while an install is in hand', async () => {
    // Prepare: a valid install request that waits until released, then a key request in the next poll.
    const { signer, log, request } = await setup();
    const install: AgentRequest = {
      type: 'deploy-release',
      requestId: newId('req'),
      accountId: request.accountId,
      sentAt: new Date().toISOString(),
      deploymentId: newId('dep'),
      appId: newId('app'),
      releaseId: newId('rel'),
      environmentId: newId('env'),
      appName: 'web',
      releaseVersion: '1.0.0',
      environmentName: 'prod',
      url: 'http://127.0.0.1:4002/releases/object',
      digest: 'c'.repeat(64),
      manifest: 'm'.repeat(64),
      evidence: evidenceFixture().evidence(),
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    };
    const { queue, events } = fakeQueue();
    let release: (() => void) | undefined;
    const processor: RequestProcessor = (r) =>
      r.type === 'deploy-release' ? new Promise((resolve) => (release = () => resolve({ outcome: 'succeeded', result: {} }))) : Promise.resolve({ outcome: 'succeeded', result: {} });
    const batches = [[message(install, 1)], [message(request, 2)]];
    const stop = new AbortController();
    const loop = runLoop({
      queue: { ...queue, receive: async () => batches.shift() ?? (await new Promise<ReceivedMessage[]>((resolve) => stop.signal.addEventListener('abort', () => resolve([])))) },
      process: processor,
      signer,
      log,
      heartbeatSeconds: 60,
      once: false,
      signal: stop.signal,
      onCredentialError: () => {},
    });

    // Act / Assess: the key request is taken and answered while the install still waits; only it is acknowledged.
    await vi.waitFor(() => expect(events).toContain('delete rh-2'));
    expect(release).toBeDefined();
    expect(events).not.toContain('delete rh-1');
    expect(events.filter((e) => e === 'send ack')).toHaveLength(1);

    // Stopping waits for the install in hand.
    stop.abort();
    release!();
    await loop;
    expect(events).toContain('delete rh-1');
  });
});
