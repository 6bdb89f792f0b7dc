import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { groupedFingerprint, passkeyFingerprint } from '#shared/protocol/passkeys.ts';
import { as } from '../../support/accounts.ts';
import { localWebOrigin, passkeyLinkFor, registerThrough } from '../../support/passkey-registration.ts';
import { softAuthenticator } from '../../support/soft-authenticator.ts';
import { cliSession } from './run-cli.ts';

type Row = { fingerprint: string; label?: string; vouched: boolean; registered: boolean };

/** The owner's CLI, an approver it added, and what the API records of that approver's person statement. */
const ownerWithApprover = async () => {
  const cli = await cliSession();
  await cli.signup();
  const email = `grace-${randomUUID().slice(0, 8)}@example.com`;
  const approver = await cli.json<{ userId: string }>(['users', 'add', '--name', 'Grace Hopper', '--email', email, '--role', 'approver']);
  const owner = as((await cli.savedConfig()).token);
  const statement = async () => {
    const items = (await owner('GET', '/statements?kind=person')).body.items as { statement: { userId: string; version: number; status: string; passkeys?: { credentialId: string; publicKey: string; label?: string; origin: string; rpId: string }[] } }[];
    return items.find((item) => item.statement.userId === approver.userId)!.statement;
  };
  /** The person registers a passkey through the link the owner sent them; answers the fingerprint the page showed. */
  const register = async (label: string, algorithm: -7 | -8 = -7) => {
    const link = await passkeyLinkFor(email, (await cli.json<{ url: string }>(['users', 'passkey-link', email])).url);
    const authenticator = softAuthenticator(algorithm);
    const { registered } = await registerThrough(link.secret, authenticator, { label });
    expect(registered.status, JSON.stringify(registered.body)).toBe(200);
    return { fingerprint: registered.body.fingerprint as string, authenticator, link };
  };
  return { cli, email, approver, statement, register };
};

describe('latchkey users passkey-link, passkeys, vouch-passkey, withdraw-passkey', () => {
  it('the owner sends a link, the person registers and reads the fingerprint out, the owner vouches: the person statement names the credential; a second passkey joins it; withdrawing one keeps the other', { timeout: 300_000 }, async () => {
    const s = await ownerWithApprover();

    // The link, in words (this one stays unused).
    const sent = await s.cli.run(['users', 'passkey-link', s.email]);
    expect(sent.code).toBe(0);
    expect(sent.stdout).toMatch(new RegExp(`Emailed Grace Hopper <${s.email}> a link to register a passkey`));
    expect(sent.stdout).toMatch(/http:\/\/localhost:\d+\/passkeys\/lkp_/);

    const laptop = await s.register('laptop');
    expect(laptop.fingerprint).toBe(passkeyFingerprint(laptop.authenticator.credential(localWebOrigin())));
    let rows = await s.cli.json<Row[]>(['users', 'passkeys', s.email]);
    expect(rows).toEqual([expect.objectContaining({ fingerprint: laptop.fingerprint, label: 'laptop', vouched: false, registered: true })]);

    // The owner types the fingerprint as the page groups it.
    const vouched = await s.cli.run(['users', 'vouch-passkey', s.email, '--fingerprint', groupedFingerprint(laptop.fingerprint)]);
    expect(vouched.code, vouched.stderr).toBe(0);
    expect(vouched.stderr).toContain(`fingerprint ${groupedFingerprint(laptop.fingerprint)}`);
    expect(vouched.stdout).toContain('names 1 passkey');
    const first = await s.statement();
    expect(first).toMatchObject({ version: 2, status: 'active' });
    expect(first.passkeys).toEqual([{ ...laptop.authenticator.credential(localWebOrigin()), label: 'laptop' }]);
    rows = await s.cli.json<Row[]>(['users', 'passkeys', s.email]);
    expect(rows.map((row) => row.vouched)).toEqual([true]);
    expect((await s.cli.run(['users', 'passkeys', s.email])).stdout).toMatch(new RegExp(`${laptop.fingerprint}\\s+laptop\\s+ES256\\s+\\S+ \\S+\\s+yes`));

    // Vouching again changes nothing.
    const again = await s.cli.run(['users', 'vouch-passkey', s.email, '--fingerprint', laptop.fingerprint]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already vouches');
    expect((await s.statement()).version).toBe(2);

    const phone = await s.register('phone', -8);
    expect((await s.cli.run(['users', 'vouch-passkey', s.email, '--fingerprint', phone.fingerprint])).code).toBe(0);
    expect((await s.statement()).passkeys?.map((p) => p.label)).toEqual(['laptop', 'phone']);

    // Disabling the person keeps what the owner vouched for (it counts for nothing while disabled).
    expect((await s.cli.run(['users', 'disable', s.email])).code).toBe(0);
    expect(await s.statement()).toMatchObject({ status: 'disabled', passkeys: [expect.objectContaining({ label: 'laptop' }), expect.objectContaining({ label: 'phone' })] });
    expect((await s.cli.run(['users', 'enable', s.email])).code).toBe(0);

    const withdrawn = await s.cli.run(['users', 'withdraw-passkey', s.email, '--fingerprint', laptop.fingerprint]);
    expect(withdrawn.code, withdrawn.stderr).toBe(0);
    const after = await s.statement();
    expect(after).toMatchObject({ status: 'active', version: 6 });
    expect(after.passkeys?.map((p) => p.label)).toEqual(['phone']);
    rows = await s.cli.json<Row[]>(['users', 'passkeys', s.email]);
    expect(rows.map((row) => [row.label, row.vouched])).toEqual([['laptop', false], ['phone', true]]);

    // Withdrawing one the statement does not name is refused, and signs nothing.
    const twice = await s.cli.run(['users', 'withdraw-passkey', s.email, '--fingerprint', laptop.fingerprint]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('vouches for no passkey');
    expect((await s.statement()).version).toBe(6);
  });

  it('a fingerprint that was not read out correctly is refused and nothing is signed; a malformed one is a usage error', { timeout: 180_000 }, async () => {
    const s = await ownerWithApprover();
    const { fingerprint } = await s.register('laptop');
    const wrong = `${fingerprint.slice(0, 63)}${fingerprint.endsWith('0') ? '1' : '0'}`;
    const refused = await s.cli.run(['users', 'vouch-passkey', s.email, '--fingerprint', wrong]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('No passkey registered for Grace Hopper has the fingerprint');
    expect((await s.cli.run(['users', 'vouch-passkey', s.email, '--fingerprint', 'abc'])).code).toBe(2);
    expect((await s.statement()).version).toBe(1);
  });

  it('only the owner’s machine vouches: a deployer’s CLI is refused', { timeout: 180_000 }, async () => {
    const s = await ownerWithApprover();
    const { fingerprint } = await s.register('laptop');
    const deployer = await s.cli.json<{ firstToken: { secret: string } }>(['users', 'add', '--name', 'Dee', '--email', `dee-${randomUUID().slice(0, 8)}@example.com`, '--role', 'deployer']);
    const other = await cliSession();
    const env = { env: { LATCHKEY_ENDPOINT: other.endpoint, LATCHKEY_TOKEN: deployer.firstToken.secret } };
    const refused = await other.run(['users', 'vouch-passkey', s.email, '--fingerprint', fingerprint], env);
    expect(refused.code).toBe(1);
    expect((await other.run(['users', 'passkey-link', s.email], env)).code).toBe(1);
    expect((await s.statement()).version).toBe(1);
  });
});
