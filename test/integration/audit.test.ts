import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { newAccount } from '../support/accounts.ts';
import { localClients } from '../support/clients.ts';

const { dynamo, env } = localClients();
const eventKey = (accountId: string, seq: number) => ({ pk: `AUDIT#${accountId}`, sk: `SEQ#${String(seq).padStart(12, '0')}` });

const allEvents = async (call: Awaited<ReturnType<typeof newAccount>>['owner']) => {
  const events: { seq: number; action: string; outcome: string; hash: string; prevHash: string }[] = [];
  let cursor: string | undefined;
  do {
    const page = (await call('GET', `/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`)).body;
    events.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return events;
};

describe('the audit trail', () => {
  it('records every change in order, hash-chained from the account’s creation, and pages through', async () => {
    const a = await newAccount();
    await a.owner('POST', '/apps', { name: 'web' });

    const events = await allEvents(a.owner);

    expect(events.map((e) => e.seq)).toEqual(events.map((_e, i) => i + 1));
    expect(events[0]).toMatchObject({ action: 'account:create', outcome: 'succeeded', prevHash: '0'.repeat(64) });
    expect(events.map((e) => e.action)).toEqual(['account:create', 'users:create', 'users:create', 'apps:create']);
    for (let i = 1; i < events.length; i += 1) expect(events[i]!.prevHash).toBe(events[i - 1]!.hash);
    expect((await a.owner('GET', '/audit/verify')).body).toEqual({ valid: true, checked: 4 });
  });

  it('keeps one unbroken chain under concurrent writers (no transactions, no forks)', async () => {
    const a = await newAccount();
    const responses = await Promise.all(Array.from({ length: 12 }, (_v, i) => a.owner('POST', '/apps', { name: `app-${i}` })));
    expect(responses.every((r) => r.status === 201)).toBe(true);
    const verified = (await a.owner('GET', '/audit/verify')).body;
    expect(verified).toEqual({ valid: true, checked: 3 + 12 });
  });

  it('names the first broken link when an event is edited directly in DynamoDB', async () => {
    // Prepare: a chain of several events.
    const a = await newAccount();
    for (const name of ['one', 'two', 'three']) await a.owner('POST', '/apps', { name });

    // Act: someone with table access rewrites event 4 to hide who did it.
    await dynamo.send(
      new UpdateCommand({
        TableName: env.DEPLOYMENTS_TABLE!,
        Key: eventKey(a.accountId, 4),
        UpdateExpression: 'SET actor.userId = :other',
        ExpressionAttributeValues: { ':other': a.approver.user.userId },
      }),
    );

    // Assess
    const verified = (await a.owner('GET', '/audit/verify')).body;
    expect(verified).toMatchObject({ valid: false, firstBrokenSeq: 4, checked: 3 });
    expect(verified.problem).toMatch(/event 4 was changed/);
  });

  it('detects a removed event', async () => {
    const a = await newAccount();
    await a.owner('POST', '/apps', { name: 'one' });
    await dynamo.send(new DeleteCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: eventKey(a.accountId, 2) }));
    expect((await a.owner('GET', '/audit/verify')).body).toMatchObject({ valid: false, firstBrokenSeq: 2 });
  });
});
