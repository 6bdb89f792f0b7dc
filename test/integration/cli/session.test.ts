import { stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { cliSession } from './run-cli.ts';

/** A port on which nothing listens: bind one, then let it go. */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

describe('latchkey signup, login, whoami', () => {
  it('signup creates an account and keeps the owner token in a 0600 file, never on screen', async () => {
    // Prepare
    const cli = await cliSession();

    // Act
    const result = await cli.run(['signup', '--endpoint', cli.endpoint, '--account', 'Acme', '--name', 'Ada Lovelace', '--email', 'ada-signup@example.com']);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Created account Acme \(acc_[0-9a-f]{32}\)/);
    const saved = await cli.savedConfig();
    expect(saved.endpoint).toBe(cli.endpoint);
    expect(saved.token).toMatch(/^lk_/);
    expect(result.stdout + result.stderr).not.toContain(saved.token);
    expect((await stat(cli.configPath)).mode & 0o777).toBe(0o600);
  });

  it('whoami shows the account and the owner', async () => {
    const cli = await cliSession();
    const account = await cli.signup();
    const me = await cli.json(['whoami']);
    expect(me).toMatchObject({ accountId: account.accountId, user: { userId: account.ownerId, email: account.email, role: 'owner' }, tokenId: account.tokenId });
    const table = await cli.run(['whoami']);
    expect(table.stdout).toContain(`role      owner`);
  });

  it('login reads the token from stdin, checks it, and saves it; a wrong one changes nothing', async () => {
    // Prepare: an account made in one config, logged into from another.
    const first = await cliSession();
    const account = await first.signup();
    const { token } = await first.savedConfig();
    const second = await cliSession();

    // Act
    const refused = await second.run(['login', '--endpoint', second.endpoint], { input: 'lk_not-a-real-token\n' });
    const accepted = await second.run(['login', '--endpoint', second.endpoint], { input: `${token}\n` });

    // Assess
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^Error: /);
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toContain(`as Ada Lovelace <${account.email}> (owner)`);
    expect(await second.savedConfig()).toEqual({ endpoint: second.endpoint, token });
    expect(accepted.stdout + accepted.stderr).not.toContain(token);
  });

  it('LATCHKEY_ENDPOINT and LATCHKEY_TOKEN work without any config file', async () => {
    const first = await cliSession();
    const account = await first.signup();
    const { token } = await first.savedConfig();
    const bare = await cliSession();
    const me = await bare.json(['whoami'], { env: { LATCHKEY_ENDPOINT: bare.endpoint, LATCHKEY_TOKEN: token! } });
    expect(me.accountId).toBe(account.accountId);
    await expect(stat(bare.configPath)).rejects.toThrow(/ENOENT/);
  });

  it('exits 2 when not logged in and 3 when the API cannot be reached', async () => {
    const cli = await cliSession();
    const notLoggedIn = await cli.run(['users', 'list']);
    expect(notLoggedIn.code).toBe(2);
    expect(notLoggedIn.stderr).toContain('latchkey login');

    const unreachable = await cli.run(['whoami'], { env: { LATCHKEY_ENDPOINT: `http://127.0.0.1:${await closedPort()}`, LATCHKEY_TOKEN: 'lk_x' } });
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain('Cannot reach the API');
  });

  it('prints the problem title and field of a refused signup, exit 2 for bad input', async () => {
    const cli = await cliSession();
    const result = await cli.run(['signup', '--endpoint', cli.endpoint, '--account', 'Acme', '--name', 'Ada', '--email', 'not-an-email']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Error: owner.email:');
    expect(result.stderr).toContain('field: owner.email');
  });
});
