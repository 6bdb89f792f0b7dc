import { readFile } from 'node:fs/promises';
import { DeleteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { nextEvent, type AuditEvent } from '#shared/domain/audit/chain.ts';
import { localClients } from '../../support/clients.ts';
import { cliSession } from '../cli/run-cli.ts';

const { dynamo, env } = localClients();
const partition = (accountId: string) => `AUDIT#${accountId}`;
const sortKey = (seq: number) => `SEQ#${String(seq).padStart(12, '0')}`;

const eventsOf = async (accountId: string): Promise<AuditEvent[]> => {
  const { Items = [] } = await dynamo.send(
    new QueryCommand({
      TableName: env.DEPLOYMENTS_TABLE!,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :seq)',
      ExpressionAttributeValues: { ':pk': partition(accountId), ':seq': 'SEQ#' },
      ConsistentRead: true,
    }),
  );
  return Items.map(({ pk: _pk, sk: _sk, ...event }) => event as AuditEvent);
};

/**
 * What a compromised backend does to hide an action (docs/threat-model.md): straight in
 * DynamoDB, never through the API, it deletes the event and writes every event after it again,
 * renumbered and re-hashed, so that the chain verifies from the first event to the last.
 */
const eraseAndRecompute = async (accountId: string, erase: (event: AuditEvent) => boolean) => {
  const before = await eventsOf(accountId);
  const kept = before.filter((event) => !erase(event));
  for (const event of before) await dynamo.send(new DeleteCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: { pk: partition(accountId), sk: sortKey(event.seq) } }));
  let head: AuditEvent | undefined;
  for (const { action, actor, target, outcome, reason, at } of kept) {
    head = nextEvent(accountId, head, { action, actor, ...(target ? { target } : {}), outcome, ...(reason === undefined ? {} : { reason }) }, at);
    await dynamo.send(new PutCommand({ TableName: env.DEPLOYMENTS_TABLE!, Item: { pk: partition(accountId), sk: sortKey(head.seq), ...head } }));
  }
  return { removed: before.length - kept.length };
};

describe('a compromised backend rewrites the audit log', () => {
  it('deletes an event and recomputes the whole chain in DynamoDB: its own check says intact, `latchkey audit verify` (having verified before) reports the rewrite', async () => {
    // Prepare: an account whose owner creates two applications, then checks the log once.
    const cli = await cliSession();
    const { accountId } = await cli.signup();
    await cli.json(['apps', 'create', 'web']);
    await cli.json(['apps', 'create', 'backdoor']);
    const first = await cli.json<{ valid: boolean; checked: number; head: { seq: number; hash: string } }>(['audit', 'verify']);
    expect(first).toMatchObject({ valid: true, rewritten: false, remembered: null });
    const remembered = JSON.parse(await readFile(cli.configPath.replace(/[^/]+$/, `audit-head.${accountId}.json`), 'utf8'));
    expect(remembered).toMatchObject({ seq: first.head.seq, hash: first.head.hash });
    await cli.json(['apps', 'create', 'later']);

    // Act: the creation of "backdoor" disappears; every later event is renumbered and re-hashed.
    // (Its owner statement is recorded after it: the creation is the last apps:create up to the head.)
    const backdoor = (await eventsOf(accountId)).filter((e) => e.action === 'apps:create' && e.seq <= first.head.seq).at(-1)!;
    expect(backdoor).toBeDefined();
    expect(await eraseAndRecompute(accountId, (e) => e.seq === backdoor.seq)).toEqual({ removed: 1 });
    const checked = (await eventsOf(accountId)).length;

    // Assess: the chain itself verifies — what the backend's own verdict (GET /audit/verify, which
    // the CLI used to print) says, and what any check of the chain alone would say.
    const { token } = await cli.savedConfig();
    const backendVerdict = await (await fetch(`${cli.endpoint}/audit/verify`, { headers: { authorization: `Bearer ${token}` } })).json();
    expect(backendVerdict).toEqual({ valid: true, checked });
    // The CLI, checking here against the head it remembered, reports the rewrite and exits 1.
    const human = await cli.run(['audit', 'verify']);
    expect(human.code).toBe(1);
    expect(human.stderr).toContain(`The audit log was rewritten behind the head this machine saw on`);
    expect(human.stderr).toContain(`(event ${first.head.seq}): event ${first.head.seq} is not the one seen before (its hash was ${first.head.hash}`);
    const json = await cli.run(['audit', 'verify', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ valid: false, rewritten: true, checked, remembered: { seq: first.head.seq, hash: first.head.hash } });

    // Cutting the log back to before the remembered head is caught too.
    await eraseAndRecompute(accountId, (e) => e.seq >= first.head.seq - 1);
    const cut = await cli.run(['audit', 'verify']);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toContain(`but event ${first.head.seq} was seen before: events were removed`);
  });

  it('an untouched log verifies again and again, the head moving forward with each new event', async () => {
    const cli = await cliSession();
    await cli.signup();
    const one = await cli.json<{ head: { seq: number } }>(['audit', 'verify']);
    await cli.json(['apps', 'create', 'web']);
    const two = await cli.run(['audit', 'verify']);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toContain(`It still holds event ${one.head.seq} as this machine saw it`);
    expect(two.stdout).toMatch(/the head is event \d+/);
  });
});
