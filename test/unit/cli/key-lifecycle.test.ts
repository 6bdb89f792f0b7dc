import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateRawKeyPair, publicFromPrivate } from '#shared/crypto/index.ts';
import { verifyStatement } from '#shared/protocol/statements.ts';
import { agentFingerprint, fromB64, keyFingerprint, parseEnrolmentToken, signEnrolment, toB64 } from '#shared/protocol/trust.ts';
import { signingKeyVouchProblem, type VouchedSigningKey } from '#shared/protocol/signing-keys.ts';
import { statementProblems } from '#cli/commands/enrolments.ts';
import { ENDPOINT, fakeApi, hex, iso, runCli } from './fake-api.ts';
import { makeAgent, writeOwnerKey } from './key-fixtures.ts';

const ids = { account: `acc_${hex(1)}`, owner: `usr_${hex(1)}`, deployer: `usr_${hex(2)}`, token: `tok_${hex(7)}`, staging: `env_${hex(5)}`, enrolment: `enr_${hex(9)}` };
const owner = { userId: ids.owner, name: 'Ada Lovelace', email: 'ada@example.com', role: 'owner', createdAt: iso };
const me = { accountId: ids.account, accountName: 'Acme', user: owner, tokenId: ids.token };
const staging = { environmentId: ids.staging, name: 'staging', approval: { enabled: false, approverGroups: [], requiredApprovals: 1, preventSelfApproval: true, windowHours: 72 }, variables: {}, createdAt: iso, updatedAt: iso };

/** A config directory kept across several CLI runs, as on one person's machine. */
const machine = async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'latchkey-keys-'));
  onTestFinished(() => rm(root, { recursive: true, force: true }));
  const configDir = path.join(root, 'latchkey');
  return { root, configDir, env: { LATCHKEY_CONFIG: path.join(configDir, 'config.json') } };
};

describe('the owner key', () => {
  it('signup makes an Ed25519 owner key in a 0600 file, registers only its public half and never prints the private one', async () => {
    // Prepare
    const host = await machine();
    const api = fakeApi({
      'POST /accounts': () => ({ status: 201, body: { accountId: ids.account, ownerId: ids.owner, token: { id: ids.token, secret: 'lk_owner-secret', expiresAt: iso } } }),
      'GET /me': () => ({ body: me }),
      'PUT /account/owner-key': ({ body }) => ({ body: { ...(body as object), fingerprint: 'f', registeredAt: iso } }),
      'PUT /me/signing-key': ({ body }) => ({ body: { ...(body as object), fingerprint: 'f', registeredAt: iso } }),
    });

    // Act
    const result = await runCli(['signup', '--account', 'Acme', '--name', 'Ada Lovelace', '--email', 'ada@example.com'], api, { env: { ...host.env, LATCHKEY_TOKEN: '' } });

    // Assess
    expect(result.code).toBe(0);
    // The last GET /me: before signing the owner's own person statement, is the key registered?
    expect(api.calls()).toEqual(['POST /accounts', 'GET /me', 'PUT /account/owner-key', 'PUT /me/signing-key', 'GET /me']);
    const file = path.join(host.configDir, `owner-key.${ids.account}.json`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(host.configDir)).mode & 0o777).toBe(0o700);
    const saved = JSON.parse(await readFile(file, 'utf8')) as { publicKey: string; privateKey: string };
    expect(publicFromPrivate('ed25519', fromB64(saved.privateKey)).equals(fromB64(saved.publicKey))).toBe(true);
    expect(api.requests[2]!.body).toEqual({ publicKey: saved.publicKey });
    // The signing key (the owner key) goes with the owner key's statement for it, which verifies.
    const signing = api.requests[3]!.body as { publicKey: string; vouch: VouchedSigningKey };
    expect(signing.publicKey).toBe(saved.publicKey);
    expect(signing.vouch.statement).toMatchObject({ accountId: ids.account, publicKey: saved.publicKey, keyId: keyFingerprint(fromB64(saved.publicKey)) });
    expect(signingKeyVouchProblem(fromB64(saved.publicKey), signing.vouch, { accountId: ids.account, publicKey: saved.publicKey })).toBeUndefined();
    const printed = result.stdout + result.stderr;
    expect(printed).not.toContain(saved.privateKey);
    expect(printed).not.toContain(fromB64(saved.privateKey).toString('hex'));
    expect(printed).toContain(keyFingerprint(fromB64(saved.publicKey)));
    expect(printed).toContain(`latchkey-agent init --owner-key ${saved.publicKey}`);
  });

  it('login by the owner of an account without an owner key makes one; with one registered it makes none', async () => {
    const host = await machine();
    const api = fakeApi({
      'GET /me': () => ({ body: me }),
      'PUT /account/owner-key': ({ body }) => ({ body: { ...(body as object), fingerprint: 'f', registeredAt: iso } }),
      'PUT /me/signing-key': ({ body }) => ({ body: { ...(body as object), fingerprint: 'f', registeredAt: iso } }),
    });
    const first = await runCli(['login', '--token', 'lk_x'], api, { env: { ...host.env, LATCHKEY_TOKEN: '' } });
    expect(first.code).toBe(0);
    expect(api.calls()).toEqual(['GET /me', 'PUT /account/owner-key', 'PUT /me/signing-key', 'GET /me']);

    const elsewhere = await machine();
    const registered = fakeApi({ 'GET /me': () => ({ body: { ...me, ownerKey: { publicKey: toB64(generateRawKeyPair('ed25519').publicKey), fingerprint: 'abc' } } }) });
    const second = await runCli(['login', '--token', 'lk_x'], registered, { env: { ...elsewhere.env, LATCHKEY_TOKEN: '' } });
    expect(second.code).toBe(0);
    expect(registered.calls()).toEqual(['GET /me']);
    expect(second.stderr).toContain('owner key is not on this machine');
  });

  it('keys show prints public keys and fingerprints, never the private half', async () => {
    const host = await machine();
    await mkdir(host.configDir, { recursive: true, mode: 0o700 });
    const key = await writeOwnerKey(host.configDir, ids.account);
    const api = fakeApi({ 'GET /me': () => ({ body: { ...me, ownerKey: key.registered, signingKey: key.registered } }) });
    const result = await runCli(['keys', 'show'], api, { env: host.env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(toB64(key.publicKey));
    expect(result.stdout).toContain(keyFingerprint(key.publicKey));
    expect(result.stdout + result.stderr).not.toContain(toB64(key.privateKey));
  });
});

describe('enrolments create', () => {
  const setUp = async (answer: (body: Record<string, unknown>) => Record<string, unknown> = () => ({})) => {
    const host = await machine();
    await mkdir(host.configDir, { recursive: true, mode: 0o700 });
    const key = await writeOwnerKey(host.configDir, ids.account);
    const answered: Parameters<typeof signEnrolment>[1][] = [];
    const api = fakeApi({
      'GET /environments': () => ({ body: { items: [staging] } }),
      'GET /me': () => ({ body: { ...me, ownerKey: key.registered } }),
      'POST /enrolments': ({ body }) => {
        const asked = body as { role: 'target'; environments: string[]; expiresInHours: number; tokenPublicKey: string };
        const statement = {
          v: 1,
          accountId: ids.account,
          enrolmentId: ids.enrolment,
          role: asked.role,
          environments: asked.environments,
          expiresAt: new Date(Date.now() + asked.expiresInHours * 3600_000).toISOString(),
          tokenPublicKey: asked.tokenPublicKey,
          ...answer(asked),
        };
        answered.push(statement as Parameters<typeof signEnrolment>[1]);
        return { status: 201, body: { enrolmentId: ids.enrolment, role: asked.role, environments: asked.environments, expiresAt: statement.expiresAt, createdAt: iso, statement, signed: false } };
      },
      [`PUT /enrolments/${ids.enrolment}/signature`]: () => ({ body: { enrolmentId: ids.enrolment, signed: true } }),
    });
    return { host, key, api, answered };
  };

  it('signs exactly the statement asked for with the owner key and prints the token once, alone, with the agent commands that do not hold it', async () => {
    // Prepare
    const { host, key, api, answered } = await setUp();

    // Act
    const result = await runCli(['enrolments', 'create', '--role', 'target', '--env', 'staging', '--hours', '4', '--name', 'web-1'], api, { env: host.env });

    // Assess
    expect(result.code).toBe(0);
    expect(api.calls()).toEqual(['GET /environments', 'GET /me', 'POST /enrolments', `PUT /enrolments/${ids.enrolment}/signature`]);
    const asked = api.requests[2]!.body as { tokenPublicKey: string };
    expect(asked).toMatchObject({ role: 'target', environments: [ids.staging], expiresInHours: 4 });
    const token = /lke_enr_[0-9a-f]{32}_[A-Za-z0-9_-]{43}/.exec(result.stdout)![0];
    expect(result.stdout.split(token)).toHaveLength(2); // once, on a line of its own
    expect(result.stdout).toContain(`\n  ${token}\n`);
    const parsed = parseEnrolmentToken(token)!;
    expect(parsed.enrolmentId).toBe(ids.enrolment);
    expect(toB64(publicFromPrivate('ed25519', parsed.tokenSeed))).toBe(asked.tokenPublicKey);
    // Ed25519 is deterministic: the signature sent is the owner key's over the statement the API answered.
    expect(api.requests[3]!.body).toEqual({ signature: signEnrolment(key.privateKey, answered[0]!) });
    // The commands work as pasted as root on the server (test/integration/install-packages.test.ts
    // runs them): the token read without echo into the environment, init and enrol as the agent's
    // user with the capabilities an installing agent needs, state, endpoint, the owner key and its
    // fingerprint, the release user; then the start command.
    const asAgent = 'setpriv --reuid=latchkey --regid=latchkey --init-groups --inh-caps=+setuid,+setgid --ambient-caps=+setuid,+setgid';
    expect(result.stdout).toContain(
      [
        `  read -rsp 'Enrolment token: ' LATCHKEY_ENROLMENT_TOKEN && echo && export LATCHKEY_ENROLMENT_TOKEN`,
        `  ${asAgent} latchkey-agent init --state /var/lib/latchkey --endpoint ${ENDPOINT} --owner-key ${toB64(key.publicKey)} --expect-fingerprint ${keyFingerprint(key.publicKey)} --release-user latchkey-release --releases /var/lib/latchkey-releases`,
        `  ${asAgent} latchkey-agent enrol --state /var/lib/latchkey --name web-1`,
        '  unset LATCHKEY_ENROLMENT_TOKEN\n',
      ].join('\n'),
    );
    expect(result.stdout).toContain('latchkey agents confirm AGENT --fingerprint FINGERPRINT');
    expect(result.stdout).toContain('systemctl enable --now latchkey-agent');
    const json = await runCli(['enrolments', 'create', '--role', 'keyserver', '--json', '--agent-user', 'ks agent', '--state', '/srv/ks'], api, { env: host.env });
    const view = JSON.parse(json.stdout) as { token: string; commands: string[]; start: string };
    expect(view.commands.join('\n')).not.toContain('lke_');
    // A key server that installs nothing has no release user and needs no capability; odd names are quoted.
    expect(view.commands[1]).toBe(
      `setpriv --reuid='ks agent' --regid='ks agent' --init-groups latchkey-agent init --state /srv/ks --endpoint ${ENDPOINT} --owner-key ${toB64(key.publicKey)} --expect-fingerprint ${keyFingerprint(key.publicKey)}`,
    );
    expect(view.start).toBe('systemctl enable --now latchkey-agent');
  });

  it.each([
    ['another role', () => ({ role: 'keyserver' })],
    ['an extra environment', (asked: Record<string, unknown>) => ({ environments: [...(asked.environments as string[]), `env_${hex(66)}`] })],
    ['a token key of its own', () => ({ tokenPublicKey: toB64(generateRawKeyPair('ed25519').publicKey) })],
    ['a longer expiry', () => ({ expiresAt: new Date(Date.now() + 7 * 24 * 3600_000).toISOString() })],
    ['another account', () => ({ accountId: `acc_${hex(99)}` })],
  ])('refuses to sign a statement with %s, and prints no token', async (_what, tamper) => {
    const { host, api } = await setUp(tamper);
    const result = await runCli(['enrolments', 'create', '--role', 'target', '--env', 'staging', '--hours', '4'], api, { env: host.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('not signed');
    expect(api.calls()).not.toContain(`PUT /enrolments/${ids.enrolment}/signature`);
    expect(result.stdout + result.stderr).not.toMatch(/lke_/);
  });

  it('refuses before asking the API when the owner key is not on this machine', async () => {
    const host = await machine();
    const api = fakeApi({ 'GET /me': () => ({ body: { ...me, ownerKey: { publicKey: toB64(generateRawKeyPair('ed25519').publicKey), fingerprint: 'x' } } }) });
    const result = await runCli(['enrolments', 'create', '--role', 'keyserver'], api, { env: host.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('owner key is not on this machine');
    expect(api.calls()).toEqual(['GET /me']);
  });

  it('statementProblems accepts the statement asked for and names each difference', () => {
    const now = Date.now();
    const asked = { accountId: ids.account, enrolmentId: ids.enrolment, role: 'keyserver' as const, environments: [], tokenPublicKey: toB64(Buffer.alloc(32, 1)), expiresInHours: 24, sentAt: now, answeredAt: now };
    const statement = { v: 1, accountId: ids.account, enrolmentId: ids.enrolment, role: 'keyserver', environments: [], expiresAt: new Date(now + 24 * 3600_000).toISOString(), tokenPublicKey: asked.tokenPublicKey };
    expect(statementProblems(statement, asked)).toEqual([]);
    expect(statementProblems({ ...statement, extra: 1 }, asked)).toEqual(['it is not a well-formed enrolment statement']);
    expect(statementProblems({ ...statement, enrolmentId: `enr_${hex(3)}` }, asked)).toHaveLength(1);
  });
});

describe('agents list', () => {
  it('says which agents the local owner key vouches for', async () => {
    const host = await machine();
    await mkdir(host.configDir, { recursive: true, mode: 0o700 });
    const key = await writeOwnerKey(host.configDir, ids.account);
    const good = makeAgent(key, ids.account, { name: 'ks-1', masterVersions: [1, 2] });
    const forged = makeAgent(generateRawKeyPair('ed25519'), ids.account, { name: 'ks-evil', online: false });
    const waiting = makeAgent(key, ids.account, { name: 'ks-new', masterVersions: [], confirmed: false });
    const masterKey = {
      version: 2,
      retiredThrough: 0,
      keyServers: [
        { agentId: good.view.agentId, name: 'ks-1', online: true, versions: [1, 2], holdsCurrent: true },
        { agentId: forged.view.agentId, name: 'ks-evil', online: false, versions: [], holdsCurrent: false },
      ],
      onlineHolders: 1,
    };
    const api = fakeApi({
      'GET /me': () => ({ body: { ...me, ownerKey: key.registered } }),
      'GET /agents': () => ({ body: { items: [good.view, forged.view, waiting.view] } }),
      'GET /master-key': () => ({ body: masterKey }),
    });

    const table = await runCli(['agents', 'list'], api, { env: host.env });
    const json = await runCli(['agents', 'list', '--json'], api, { env: host.env });

    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+ROLE\s+ONLINE\s+LAST SEEN\s+MASTER KEYS\s+VERIFIED\s+CONFIRMED$/);
    expect(lines.find((l) => l.includes('ks-1'))).toMatch(/keyserver\s+yes\s+2026-11-23 08:55Z\s+v1,v2\s+yes\s+yes \(v1\)$/);
    expect(lines.find((l) => l.includes('ks-evil'))).toMatch(/no: its enrolment is not signed by the account owner\s+no: the agent statement .* is not signed by the account owner key$/);
    expect(lines.find((l) => l.includes('ks-new'))).toMatch(/yes\s+no$/);
    expect(JSON.parse(json.stdout).map((a: { verified: string }) => a.verified)).toEqual(['yes', 'no: its enrolment is not signed by the account owner', 'yes']);
    expect(table.stderr).toContain(`Not confirmed yet, so they get no keys and no deployments: ks-new (${waiting.view.agentId})`);
    // The master key's standing: who is still learning it, and one loss from losing it.
    expect(table.stderr).toContain('Master key v2: held by 1 of 1 online key servers.');
    expect(table.stderr).toContain(`ks-evil (${forged.view.agentId}) has not learned master key v2 yet (it is offline).`);
    expect(table.stderr).toContain(`Warning: only ks-1 (${good.view.agentId}) holds master key v2 online: losing it loses every release sealed under v2.`);
  });

  it('agents list says when the master key is being replaced after a removal, and when there is none yet', async () => {
    const host = await machine();
    const servers = [{ agentId: `agt_${'1'.repeat(32)}`, online: true, versions: [1], holdsCurrent: false }];
    const replacing = fakeApi({ 'GET /me': () => ({ body: me }), 'GET /agents': () => ({ body: { items: [] } }), 'GET /master-key': () => ({ body: { version: null, retiredThrough: 1, keyServers: servers, onlineHolders: 0 } }) });
    const none = fakeApi({ 'GET /me': () => ({ body: me }), 'GET /agents': () => ({ body: { items: [] } }), 'GET /master-key': () => ({ body: { version: null, retiredThrough: 0, keyServers: servers, onlineHolders: 0 } }) });
    expect((await runCli(['agents', 'list'], replacing, { env: host.env })).stderr).toContain('The master key is being replaced (a key server holding v1 was removed)');
    expect((await runCli(['agents', 'list'], none, { env: host.env })).stderr).toContain('No master key yet: it is made once two key servers are enrolled and online (1 enrolled).');
  });

  /** An owner's machine and an API keeping the statements it is sent, with one agent listed. */
  const withAgent = async (options: { confirmed?: boolean } = {}) => {
    const host = await machine();
    await mkdir(host.configDir, { recursive: true, mode: 0o700 });
    const key = await writeOwnerKey(host.configDir, ids.account);
    const agent = makeAgent(key, ids.account, { name: 'ks-2', ...options });
    const recorded: { statement: Record<string, unknown>; signature: string }[] = agent.view.statement ? [agent.view.statement] : [];
    const api = fakeApi({
      'GET /me': () => ({ body: { ...me, ownerKey: key.registered } }),
      'GET /agents': () => ({ body: { items: [agent.view] } }),
      'GET /statements': () => ({ body: { items: recorded.map((s) => ({ ...s, recordedAt: iso })) } }),
      'PUT /statements': ({ body }) => {
        recorded.push(body as (typeof recorded)[number]);
        return { body: { ...(body as object), recordedAt: iso } };
      },
      [`DELETE /agents/${agent.view.agentId}`]: () => ({ body: agent.view }),
    });
    const fingerprint = agentFingerprint({ signingKey: fromB64(agent.view.signingKey), encryptionKey: fromB64(agent.view.encryptionKey) });
    return { host, key, agent, api, recorded, fingerprint };
  };

  it('agents remove signs the owner’s removal of the agent, then removes it', async () => {
    const { host, key, agent, api, recorded } = await withAgent();
    const result = await runCli(['agents', 'remove', 'ks-2'], api, { env: host.env });
    expect(result.code, result.stderr).toBe(0);
    expect(api.calls()).toEqual(['GET /me', 'GET /agents', 'GET /statements', 'PUT /statements', `DELETE /agents/${agent.view.agentId}`]);
    expect(verifyStatement(key.publicKey, recorded[1]!, { kind: 'agent', accountId: ids.account, subject: agent.view.agentId })).toMatchObject({ status: 'removed', version: 2 });
    expect(result.stdout).toContain(`Removed keyserver ks-2 (${agent.view.agentId}) (agent statement version 2)`);
  });

  it('agents confirm signs an agent statement for the keys whose fingerprint the operator read out', async () => {
    const { host, key, agent, api, recorded, fingerprint } = await withAgent({ confirmed: false });
    const result = await runCli(['agents', 'confirm', 'ks-2', '--fingerprint', fingerprint.toUpperCase().replace(/(.{8})/g, '$1:')], api, { env: host.env });
    expect(result.code, result.stderr).toBe(0);
    expect(verifyStatement(key.publicKey, recorded[0]!, { kind: 'agent', accountId: ids.account, subject: agent.view.agentId })).toMatchObject({
      status: 'active',
      version: 1,
      role: 'keyserver',
      encryptionKey: agent.view.encryptionKey,
      signingKey: agent.view.signingKey,
    });
    expect(result.stderr).toContain(`fingerprint   ${fingerprint}`);
  });

  it('agents confirm refuses, signing nothing, another fingerprint (someone else enrolled with the token) or a removed agent', async () => {
    const wrong = await withAgent({ confirmed: false });
    const other = await runCli(['agents', 'confirm', 'ks-2', '--fingerprint', 'ab'.repeat(32)], wrong.api, { env: wrong.host.env });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`has fingerprint ${wrong.fingerprint}, not the one you were given`);
    expect(wrong.api.calls()).not.toContain('PUT /statements');

    const removed = await withAgent();
    expect((await runCli(['agents', 'remove', 'ks-2'], removed.api, { env: removed.host.env })).code).toBe(0);
    const again = await runCli(['agents', 'confirm', 'ks-2', '--fingerprint', removed.fingerprint], removed.api, { env: removed.host.env });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('a removed agent stays removed');
  });
});
