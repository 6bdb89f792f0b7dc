import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cliSession } from './run-cli.ts';

const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

describe('latchkey users and groups', () => {
  it('adds a person, makes a group, and adds and removes them by name and email', async () => {
    // Prepare
    const cli = await cliSession();
    await cli.signup();
    const email = `${unique('grace')}@example.com`;

    // Act
    const added = await cli.json(['users', 'add', '--name', 'Grace Hopper', '--email', email, '--role', 'approver']);
    const created = await cli.run(['groups', 'create', 'release-managers']);
    const joined = await cli.json(['groups', 'add-member', 'release-managers', email.toUpperCase()]);
    const table = await cli.run(['groups', 'list']);
    const left = await cli.json(['groups', 'remove-member', 'release-managers', 'Grace Hopper']);

    // Assess
    expect(added).toMatchObject({ userId: expect.stringMatching(/^usr_/), email, role: 'approver' });
    expect(created.code).toBe(0);
    expect(joined.members).toEqual([added.userId]);
    expect(table.stdout).toMatch(new RegExp(`release-managers\\s+${email}`));
    expect(left.members).toEqual([]);
    const users = await cli.json<{ email: string }[]>(['users', 'list']);
    expect(users.map((u) => u.email).sort()).toContain(email);
  });

  it('names the field the API refused and exits 1', async () => {
    const cli = await cliSession();
    await cli.signup();
    await cli.run(['groups', 'create', 'ops']);
    const duplicate = await cli.run(['groups', 'create', 'ops']);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toMatch(/^Error: .+/);
    const unknown = await cli.run(['groups', 'add-member', 'ops', 'nobody@example.com']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('No person matches "nobody@example.com"');
  });
});

describe('latchkey tokens', () => {
  it('creates a token whose secret is printed once and works, lists it without the secret, and revokes it', async () => {
    // Prepare
    const owner = await cliSession();
    const account = await owner.signup();

    // Act
    const created = await owner.run(['tokens', 'create', '--label', 'ci', '--days', '7']);
    const secret = /(lk_[A-Za-z0-9_-]+)/.exec(created.stdout)?.[1];
    const ci = await cliSession();
    const asCi = { env: { LATCHKEY_ENDPOINT: ci.endpoint, LATCHKEY_TOKEN: secret ?? '' } };
    const before = await ci.run(['whoami'], asCi);
    const listed = await owner.run(['tokens', 'list']);
    const revoked = await owner.run(['tokens', 'revoke', 'ci']);
    const after = await ci.run(['whoami'], asCi);

    // Assess
    expect(created.code).toBe(0);
    expect(secret).toBeDefined();
    expect(created.stdout.split(secret!)).toHaveLength(2);
    expect(before.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`ci\\s+${account.email}\\s+.*active`));
    expect(listed.stdout).not.toContain(secret);
    expect(revoked.code).toBe(0);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('latchkey login');
  });

  it('exits 1 for a token that does not exist (by label or id) and 2 for an out-of-range --days', async () => {
    const cli = await cliSession();
    await cli.signup();
    expect((await cli.run(['tokens', 'revoke', 'tok_nothex'])).code).toBe(1); // not an id, so looked up as a label
    const unknown = await cli.run(['tokens', 'revoke', `tok_${'0'.repeat(32)}`]);
    expect(unknown.code).toBe(1);
    const badDays = await cli.run(['tokens', 'create', '--label', 'x', '--days', '400']);
    expect(badDays.code).toBe(2);
  });
});

describe('latchkey users disable, enable and remove', () => {
  it('the backend revokes their tokens and the owner signs their person statement with the new status, each time', { timeout: 60_000 }, async () => {
    // Prepare: Grace, an approver, logged in on her machine (pinning the owner key the owner read out), with a token she made.
    const owner = await cliSession();
    const account = await owner.signup();
    const email = `${unique('grace')}@example.com`;
    const added = await owner.json<{ userId: string; firstToken: { secret: string } }>(['users', 'add', '--name', 'Grace Hopper', '--email', email, '--role', 'approver']);
    const ownerKey = (await owner.json<{ ownerKey: { publicKey: string } }>(['keys', 'show'])).ownerKey.publicKey;
    const grace = await cliSession();
    expect((await grace.run(['login', '--endpoint', grace.endpoint, '--owner-key', ownerKey], { input: `${added.firstToken.secret}\n` })).code).toBe(0);
    const laptop = await grace.json<{ secret: string }>(['tokens', 'create', '--label', 'laptop']);

    // Act and assess 1: disabled. Her tokens are dead; the owner's statement (version 1 was signed when she was added) says disabled.
    const disabled = await owner.run(['users', 'disable', email]);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(disabled.stderr).toContain(`Signing version 2 of the person statement for ${added.userId}`);
    expect(disabled.stdout).toContain('Revoked 2 tokens of theirs');
    expect((await grace.run(['whoami'])).code).toBe(1);
    expect((await grace.run(['whoami'], { env: { LATCHKEY_TOKEN: laptop.secret } })).code).toBe(1);
    const statementOf = async () => {
      const { token } = await owner.savedConfig();
      const listed = await fetch(`${owner.endpoint}/statements?kind=person`, { headers: { authorization: `Bearer ${token}` } });
      const items = ((await listed.json()) as { items: { statement: { userId: string; status: string; version: number } }[] }).items;
      return items.find((item) => item.statement.userId === added.userId)!.statement;
    };
    expect(await statementOf()).toMatchObject({ status: 'disabled', version: 2 });
    expect((await owner.run(['groups', 'create', 'ops'])).code).toBe(0);
    const join = await owner.run(['groups', 'add-member', 'ops', email]);
    expect(join.code).toBe(1);
    expect(join.stderr).toContain('is disabled');
    expect(await owner.json<{ email: string; status: string }[]>(['users', 'list'])).toContainEqual(expect.objectContaining({ email, status: 'disabled' }));

    // 2: enabled again, with a first token printed once; version 3 says active.
    const enabled = await owner.json<{ firstToken: { secret: string } }>(['users', 'enable', email]);
    expect(await statementOf()).toMatchObject({ status: 'active', version: 3 });
    expect((await grace.run(['whoami'], { env: { LATCHKEY_TOKEN: enabled.firstToken.secret } })).code).toBe(0);

    // 3: removed for good; version 4 says so, and she cannot be enabled again.
    expect((await owner.run(['users', 'remove', email])).code).toBe(0);
    expect(await statementOf()).toMatchObject({ status: 'removed', version: 4 });
    const again = await owner.run(['users', 'enable', email]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('was removed');
    expect(account.accountId).toMatch(/^acc_/);
  });

  it('tokens revoke --all PERSON revokes every token of that person, and the tokens made with them', async () => {
    const owner = await cliSession();
    await owner.signup();
    const email = `${unique('dan')}@example.com`;
    const added = await owner.json<{ firstToken: { secret: string } }>(['users', 'add', '--name', 'Dan Deployer', '--email', email, '--role', 'deployer']);
    const dan = await cliSession();
    const asDan = { env: { LATCHKEY_ENDPOINT: dan.endpoint, LATCHKEY_TOKEN: added.firstToken.secret } };
    const ci = await dan.json<{ secret: string; expiresAt: string }>(['tokens', 'create', '--label', 'ci', '--days', '365'], asDan);
    const revoked = await owner.json<{ revoked: string[] }>(['tokens', 'revoke', '--all', email]);
    expect(revoked.revoked).toHaveLength(2);
    expect((await dan.run(['whoami'], asDan)).code).toBe(1);
    expect((await dan.run(['whoami'], { env: { LATCHKEY_ENDPOINT: dan.endpoint, LATCHKEY_TOKEN: ci.secret } })).code).toBe(1);
  });
});
