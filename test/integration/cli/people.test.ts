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
