import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { signStatement, verifyStatement, type PersonStatement, type SignedStatement } from '#shared/protocol/statements.ts';
import { pinStatements, readStatementPins, statementPinsPath } from '#cli/statement-pins.ts';
import { fakeApi, hex, iso, runCli } from './fake-api.ts';
import { writeOwnerKey } from './key-fixtures.ts';

type KeyPair = Awaited<ReturnType<typeof writeOwnerKey>>;

const ids = { account: `acc_${hex(1)}`, owner: `usr_${hex(1)}`, grace: `usr_${hex(2)}`, token: `tok_${hex(7)}` };
const ownerUser = { userId: ids.owner, name: 'Ada Lovelace', email: 'ada@example.com', role: 'owner', status: 'active', createdAt: iso };
const grace = { userId: ids.grace, name: 'Grace Hopper', email: 'grace@example.com', role: 'approver', status: 'active', createdAt: iso };

const machine = async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'latchkey-statements-'));
  onTestFinished(() => rm(root, { recursive: true, force: true }));
  const configDir = path.join(root, 'latchkey');
  await mkdir(configDir, { recursive: true, mode: 0o700 });
  return { configDir, configPath: path.join(configDir, 'config.json'), env: { LATCHKEY_CONFIG: path.join(configDir, 'config.json') } };
};

const personStatement = (version: number, status: PersonStatement['status'] = 'active'): PersonStatement => ({
  v: 1,
  kind: 'person',
  accountId: ids.account,
  userId: ids.grace,
  name: grace.name,
  email: grace.email,
  role: 'approver',
  status,
  version,
  issuedAt: iso,
});

/**
 * The API as `users disable` sees it: the statement on record is whatever `shown()` says (the
 * backend may lie), PUT /statements answers with `answer(body)` (by default what it got).
 */
const api = (key: KeyPair, options: { shown?: () => SignedStatement[]; answer?: (body: SignedStatement) => unknown } = {}) => {
  const recorded: SignedStatement[] = [];
  const fake = fakeApi({
    'GET /me': () => ({ body: { accountId: ids.account, accountName: 'Acme', user: ownerUser, tokenId: ids.token, ownerKey: key.registered } }),
    'GET /users': () => ({ body: { items: [ownerUser, grace] } }),
    [`PUT /users/${ids.grace}/status`]: ({ body }) => ({ body: { ...grace, ...(body as object), revokedTokens: [`tok_${hex(8)}`] } }),
    'GET /statements': () => ({ body: { items: (options.shown?.() ?? recorded).map((s) => ({ ...s, recordedAt: iso })) } }),
    'PUT /statements': ({ body }) => {
      recorded.push(body as SignedStatement);
      return { body: { ...((options.answer?.(body as SignedStatement) ?? body) as object), recordedAt: iso } };
    },
  });
  return Object.assign(fake, { recorded });
};

const disable = (host: Awaited<ReturnType<typeof machine>>, fake: ReturnType<typeof api>) => runCli(['users', 'disable', 'grace@example.com'], fake, { env: host.env });

describe('statement pins', () => {
  it('are kept per account in a 0600 file, only ever grow, and are refused when others can read or change them', async () => {
    const host = await machine();
    expect(await readStatementPins(host.configPath, ids.account)).toEqual({});
    await pinStatements(host.configPath, ids.account, [personStatement(3)]);
    await pinStatements(host.configPath, ids.account, [personStatement(2)]);
    const file = statementPinsPath(host.configPath, ids.account);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readStatementPins(host.configPath, ids.account)).toEqual({ [`person:${ids.grace}`]: 3 });
    expect(await readStatementPins(host.configPath, `acc_${hex(2)}`)).toEqual({});
    await chmod(file, 0o644);
    await expect(readStatementPins(host.configPath, ids.account)).rejects.toThrow('can be read or changed by other users');
    await chmod(file, 0o600);
    await writeFile(file, '{"v":1,"accountId":"x","pins":{}}');
    await expect(readStatementPins(host.configPath, ids.account)).rejects.toThrow('are not valid');
  });

  it('never lower, whatever order statements are seen in', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 12 }), async (versions) => {
        const host = await machine();
        for (const version of versions) await pinStatements(host.configPath, ids.account, [personStatement(version)]);
        expect(await readStatementPins(host.configPath, ids.account)).toEqual({ [`person:${ids.grace}`]: Math.max(...versions) });
      }),
      { numRuns: 20 },
    );
  });
});

describe('sign and record a statement (users disable)', () => {
  it('signs the next version with the owner key after showing names and ids, records it, checks the answer and pins it', async () => {
    // Prepare: the owner's version 1 is on record.
    const host = await machine();
    const key = await writeOwnerKey(host.configDir, ids.account);
    const fake = api(key);
    fake.recorded.push(signStatement(key.privateKey, personStatement(1)));

    // Act
    const result = await disable(host, fake);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(fake.calls()).toEqual(['GET /me', 'GET /users', `PUT /users/${ids.grace}/status`, 'GET /statements', 'PUT /statements']);
    const sent = fake.recorded[1]!;
    expect(verifyStatement(key.publicKey, sent, { kind: 'person', accountId: ids.account, subject: ids.grace, pinned: 2 })).toMatchObject({ version: 2, status: 'disabled', role: 'approver' });
    expect(result.stderr).toContain(`Signing version 2 of the person statement for ${ids.grace}`);
    expect(result.stderr).toContain(`person  Grace Hopper <grace@example.com> (${ids.grace})`);
    expect(result.stdout).toContain('Revoked 1 token of theirs');
    expect(await readStatementPins(host.configPath, ids.account)).toEqual({ [`person:${ids.grace}`]: 2 });
  });

  it('does not sign again what the newest statement already says', async () => {
    const host = await machine();
    const key = await writeOwnerKey(host.configDir, ids.account);
    const fake = api(key);
    fake.recorded.push(signStatement(key.privateKey, personStatement(4, 'disabled')));
    const result = await disable(host, fake);
    expect(result.code, result.stderr).toBe(0);
    expect(fake.calls()).not.toContain('PUT /statements');
    expect(result.stdout).toContain('already says disabled (version 4)');
  });

  it.each([
    ['shows a version older than the one pinned here', (key: KeyPair) => [signStatement(key.privateKey, personStatement(2))], 'older than version 5'],
    ['hides the statement this CLI has seen', () => [], 'shows no person statement'],
    ['shows a statement the owner key did not sign', () => [signStatement(generateRawKeyPair('ed25519').privateKey, personStatement(6))], 'not signed by the account owner key'],
  ])('refuses, signing nothing, when the API %s', async (_what, shown, message) => {
    const host = await machine();
    const key = await writeOwnerKey(host.configDir, ids.account);
    await pinStatements(host.configPath, ids.account, [personStatement(5)]);
    const fake = api(key, { shown: () => shown(key) });
    const result = await disable(host, fake);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(message);
    expect(fake.calls()).not.toContain('PUT /statements');
    expect(await readStatementPins(host.configPath, ids.account)).toEqual({ [`person:${ids.grace}`]: 5 });
  });

  it('refuses an answer other than what was signed, and pins nothing', async () => {
    const host = await machine();
    const key = await writeOwnerKey(host.configDir, ids.account);
    const fake = api(key, { answer: (body) => ({ ...body, statement: { ...body.statement, status: 'active' } }) });
    const result = await disable(host, fake);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('recorded the person statement');
    expect(await readStatementPins(host.configPath, ids.account)).toEqual({});
  });

  it('over any version the backend shows, signs only above both it and the pin, and never accepts one below the pin', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 20 }), async (pin, shown) => {
        const host = await machine();
        const key = await writeOwnerKey(host.configDir, ids.account);
        if (pin) await pinStatements(host.configPath, ids.account, [personStatement(pin)]);
        const fake = api(key, { shown: () => (shown ? [signStatement(key.privateKey, personStatement(shown))] : []) });
        const result = await disable(host, fake);
        const sent = fake.recorded.at(-1);
        if (shown < pin) {
          expect(result.code).toBe(1);
          expect(sent).toBeUndefined();
        } else {
          expect(result.code, result.stderr).toBe(0);
          expect(sent!.statement.version).toBe(Math.max(pin, shown) + 1);
          expect(JSON.parse(await readFile(statementPinsPath(host.configPath, ids.account), 'utf8')).pins[`person:${ids.grace}`]).toBe(Math.max(pin, shown) + 1);
        }
      }),
      { numRuns: 25 },
    );
  });
});
