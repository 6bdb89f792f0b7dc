import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { publicFromPrivate } from '#shared/crypto/index.ts';
import { fromB64, keyFingerprint, parseEnrolmentToken, signEnrolment, toB64 } from '#shared/protocol/trust.ts';
import { cliSession } from './run-cli.ts';

type KeyFile = { publicKey: string; privateKey: string };

describe('the owner key and enrolments', () => {
  it('signup makes the owner key, keeps it in a 0600 file and registers its public half', async () => {
    // Prepare
    const cli = await cliSession();

    // Act
    const result = await cli.run(['signup', '--endpoint', cli.endpoint, '--account', 'Keys', '--name', 'Ada Lovelace', '--email', 'ada-keys@example.com']);

    // Assess
    expect(result.code).toBe(0);
    const me = await cli.json<{ accountId: string; ownerKey?: { publicKey: string; fingerprint: string } }>(['whoami']);
    const file = path.join(path.dirname(cli.configPath), `owner-key.${me.accountId}.json`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const key = JSON.parse(await readFile(file, 'utf8')) as KeyFile;
    expect(me.ownerKey?.publicKey).toBe(key.publicKey);
    expect(result.stdout + result.stderr).not.toContain(key.privateKey);
    expect(result.stderr).toContain(keyFingerprint(fromB64(key.publicKey)));
    expect(result.stderr).toContain(`latchkey-agent init --owner-key ${key.publicKey}`);
    const shown = await cli.run(['keys', 'show']);
    expect(shown.stdout).toContain(key.publicKey);
    expect(shown.stdout).not.toContain(key.privateKey);
  });

  it('enrolments create prints a token once whose statement is signed by the owner key', async () => {
    // Prepare
    const cli = await cliSession();
    const account = await cli.signup();
    await cli.run(['envs', 'create', 'staging']);
    const key = JSON.parse(await readFile(path.join(path.dirname(cli.configPath), `owner-key.${account.accountId}.json`), 'utf8')) as KeyFile;

    // Act
    const result = await cli.run(['enrolments', 'create', '--role', 'target', '--env', 'staging', '--hours', '2']);

    // Assess
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const token = /lke_enr_[0-9a-f]{32}_[A-Za-z0-9_-]{43}/.exec(result.stdout)![0];
    // The commands work as pasted on the agent machine, and the token is on none of them.
    expect(result.stdout).toContain(`latchkey-agent init --state /var/lib/latchkey --endpoint ${cli.endpoint} --owner-key ${key.publicKey} --expect-fingerprint ${keyFingerprint(fromB64(key.publicKey))}`);
    expect(result.stdout.split(token)).toHaveLength(2);
    expect(result.stdout).toContain(`\n  ${token}\n`);
    const { enrolmentId, tokenSeed } = parseEnrolmentToken(token)!;
    // What an enrolling agent reads: the statement, signed by the owner over exactly these terms.
    const signed = (await (await fetch(`${cli.endpoint}/enrolments/${enrolmentId}`)).json()) as { statement: Parameters<typeof signEnrolment>[1]; ownerSignature: string };
    expect(signed.statement).toMatchObject({ accountId: account.accountId, enrolmentId, role: 'target', tokenPublicKey: toB64(publicFromPrivate('ed25519', tokenSeed)) });
    expect(signed.statement.environments).toHaveLength(1);
    expect(Date.parse(signed.statement.expiresAt) - Date.now()).toBeGreaterThan(1.9 * 3600_000);
    expect(Date.parse(signed.statement.expiresAt) - Date.now()).toBeLessThan(2.1 * 3600_000);
    expect(signed.ownerSignature).toBe(signEnrolment(fromB64(key.privateKey), signed.statement));

    const noEnv = await cli.run(['enrolments', 'create', '--role', 'target']);
    expect(noEnv.code).toBe(2);
    expect(noEnv.stderr).toContain('field: environments');
  });

  it('agents list is empty for a new account', async () => {
    const cli = await cliSession();
    await cli.signup();
    expect(await cli.json(['agents', 'list'])).toEqual([]);
  });
});
