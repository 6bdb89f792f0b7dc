import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateMasterKey, hpkeWrap } from '#shared/crypto/index.ts';
import { masterKeyContext } from '#shared/protocol/key-contexts.ts';
import { fromB64, masterCommitment, toB64 } from '#shared/protocol/trust.ts';
import { startKeyServer, untilAgents, type ListedAgent } from '../support/agents.ts';
import { localClients } from '../support/clients.ts';
import { cliSession } from './cli/run-cli.ts';

const { dynamo, env } = localClients();

type AuditEvent = { action: string; outcome: string; reason?: string; target?: { type: string; id: string } };

describe('a master key copy the backend swapped', () => {
  it('is refused by the key server it is handed to, before it opens it; nothing is pinned or sealed, and the refusal is audited', { timeout: 120_000 }, async () => {
    // Prepare: two real key servers; one of them (B below: whichever the backend asked) creates
    // master key v1 for both. A has never opened its copy, so A has no pin for v1 yet: like any
    // newly enrolled key server, only the copy's signature stands between it and a key of the
    // backend's choosing.
    const cli = await cliSession();
    const account = await cli.signup();
    const first = await startKeyServer(cli, 'first');
    const second = await startKeyServer(cli, 'second');
    const held = await untilAgents(cli, 'both online with master key v1', (l) => ['first', 'second'].every((n) => l[n]?.online && l[n].masterVersions.includes(1)));
    const creator = await Promise.any([first, second].map(async (k) => (await k.process.answered('create-master-key', 'succeeded'), k)));
    const [a, b] = creator === first ? [second, first] : [first, second];
    const listed = { a: held[a.name]!, b: held[b.name]! };
    await cli.json(['apps', 'create', 'vault']);
    await cli.json(['apps', 'secure', 'vault']);

    // The backend swaps A's stored copy for one it made (HPKE base mode needs only A's public
    // key), keeping the genuine signature and wrapper it has on record.
    const forged = generateMasterKey(1);
    const swapped = await hpkeWrap(fromB64((listed.a as ListedAgent & { encryptionKey: string }).encryptionKey), masterKeyContext({ accountId: account.accountId, version: 1 }), forged.key);
    await dynamo.send(
      new UpdateCommand({
        TableName: env.WRAPPED_KEYS_TABLE!,
        Key: { pk: `ACCOUNT#${account.accountId}`, sk: `MASTER#${'1'.padStart(10, '0')}#${a.agentId}` },
        UpdateExpression: 'SET wrappedMaster = :w',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':w': toB64(swapped) },
      }),
    );
    // B goes away, so the release key can only go to A.
    await b.process.kill();
    await untilAgents(cli, 'b offline', (l) => !l[b.name]!.online && l[a.name]!.online);
    const source = await mkdtemp(path.join(tmpdir(), 'latchkey-swap-src-'));
    onTestFinished(() => rm(source, { recursive: true, force: true }));
    await writeFile(path.join(source, 'secret.txt'), 'attack at dawn\n');

    // Act
    const pushed = await cli.run(['push', 'vault', source, '--seal-timeout', '10']);

    // Assess: A refused, so nothing was sealed and the push says so.
    expect(pushed.code, pushed.stderr).not.toBe(0);
    expect(pushed.stderr).toContain('No key server sealed release');
    const refusal = await a.process.answered('rewrap-release-key', 'failed');
    expect(refusal.code).toBe('UntrustedMasterCopy');
    // Nothing was learned: A pinned no version (it never opened the forged copy).
    const pins = await readFile(path.join(a.state, 'masters.json'), 'utf8').catch(() => '{"pins":{}}');
    expect(JSON.parse(pins).pins).toEqual({});
    expect(pins).not.toContain(masterCommitment(account.accountId, 1, forged.key).toString('hex'));
    // The backend closed the request as refused, in the audit trail.
    const events = await cli.json<AuditEvent[]>(['audit', 'list', '--limit', '500']);
    const refused = events.filter((e) => e.action === 'agents:rewrap-release-key');
    expect(refused).toEqual([expect.objectContaining({ outcome: 'refused', target: expect.objectContaining({ type: 'agent-request' }) })]);
    expect(refused[0]!.reason).toContain(`Agent ${a.agentId}: UntrustedMasterCopy`);
  });
});
