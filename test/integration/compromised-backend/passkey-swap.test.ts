import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { as } from '../../support/accounts.ts';
import { passkeyLinkItem, updatePasskeyLinkItem } from '../../support/backend-writes.ts';
import { localWebOrigin, passkeyLinkFor, registerThrough } from '../../support/passkey-registration.ts';
import { softAuthenticator } from '../../support/soft-authenticator.ts';
import { cliSession } from '../cli/run-cli.ts';

describe('a registered passkey, as a compromised backend shows it to the owner', () => {
  it('with its public key swapped in the table for the backend’s own: the fingerprint the person read out matches nothing, and vouch-passkey signs nothing; with its origin changed, it is refused too', { timeout: 300_000 }, async () => {
    // Prepare: an approver registers a passkey through the emailed link and reads its
    // fingerprint (from the page's answer) to the owner.
    const cli = await cliSession();
    await cli.signup();
    const email = `grace-${randomUUID().slice(0, 8)}@example.com`;
    const approver = await cli.json<{ userId: string }>(['users', 'add', '--name', 'Grace Hopper', '--email', email, '--role', 'approver']);
    const link = await passkeyLinkFor(email, (await cli.json<{ url: string }>(['users', 'passkey-link', email])).url);
    const { registered } = await registerThrough(link.secret, softAuthenticator(), { label: 'laptop' });
    expect(registered.status).toBe(200);
    const readOut: string = registered.body.fingerprint;
    const owner = as((await cli.savedConfig()).token);
    const statementVersion = async () =>
      ((await owner('GET', '/statements?kind=person')).body.items as { statement: { userId: string; version: number } }[]).find((item) => item.statement.userId === approver.userId)!.statement.version;

    // Act 1: the backend replaces the credential's public key with one whose private half it
    // holds, keeping the credential id and label.
    const genuine = (await passkeyLinkItem(link.secretHash))!.credential;
    const attacker = softAuthenticator().credential(localWebOrigin());
    await updatePasskeyLinkItem(link.secretHash, { credential: { ...genuine, publicKey: attacker.publicKey } });
    const listed = await cli.json<{ fingerprint: string }[]>(['users', 'passkeys', email]);
    expect(listed.map((row) => row.fingerprint)).not.toContain(readOut);
    const swapped = await cli.run(['users', 'vouch-passkey', email, '--fingerprint', readOut]);

    // Assess 1: refused, nothing signed.
    expect(swapped.code).toBe(1);
    expect(swapped.stderr).toContain('No passkey registered for Grace Hopper has the fingerprint');
    expect(swapped.stderr).toContain('the backend is not showing the key they registered');
    expect(await statementVersion()).toBe(1);

    // Act 2: the genuine key back, but bound to an origin the backend controls.
    await updatePasskeyLinkItem(link.secretHash, { credential: { ...genuine, origin: 'https://evil.example', rpId: 'evil.example' } });
    const moved = await cli.run(['users', 'vouch-passkey', email, '--fingerprint', readOut]);

    // Assess 2: refused, nothing signed; with the genuine record, it is vouched for.
    expect(moved.code).toBe(1);
    expect(moved.stderr).toContain('registered for https://evil.example');
    expect(await statementVersion()).toBe(1);
    await updatePasskeyLinkItem(link.secretHash, { credential: genuine });
    expect((await cli.run(['users', 'vouch-passkey', email, '--fingerprint', readOut])).code).toBe(0);
    expect(await statementVersion()).toBe(2);
  });
});
