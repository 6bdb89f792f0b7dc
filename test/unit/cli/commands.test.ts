import { readFile, stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ENDPOINT, fakeApi, hex, iso, problem, runCli, TOKEN } from './fake-api.ts';

const ids = {
  account: `acc_${hex(1)}`,
  owner: `usr_${hex(1)}`,
  grace: `usr_${hex(2)}`,
  group: `grp_${hex(3)}`,
  prod: `env_${hex(4)}`,
  staging: `env_${hex(5)}`,
  app: `app_${hex(6)}`,
  token: `tok_${hex(7)}`,
  ciToken: `tok_${hex(8)}`,
};
const owner = { userId: ids.owner, name: 'Ada Lovelace', email: 'ada@example.com', role: 'owner', createdAt: iso };
const grace = { userId: ids.grace, name: 'Grace Hopper', email: 'grace@example.com', role: 'approver', createdAt: iso };
const me = { accountId: ids.account, accountName: 'Acme', user: owner, tokenId: ids.token };
const group = { groupId: ids.group, name: 'release-managers', members: [] as string[], createdAt: iso };
const policy = { enabled: false, approverGroups: [], requiredApprovals: 1, preventSelfApproval: true, windowHours: 72 };
const prod = { environmentId: ids.prod, name: 'production', approval: policy, variables: { REGION: 'eu-west-1', OLD: '1' }, createdAt: iso, updatedAt: iso };
const staging = { ...prod, environmentId: ids.staging, name: 'staging', variables: {} };
const app = { appId: ids.app, name: 'web-api', secure: false, createdAt: iso, updatedAt: iso };
const page = (items: unknown[]) => () => ({ body: { items } });
/** The owner-key registration that signup and the owner's first login make (test/unit/cli/key-lifecycle.test.ts covers it). */
const keyRoutes = {
  'PUT /account/owner-key': ({ body }: { body: unknown }) => ({ body: { ...(body as object), fingerprint: 'f', registeredAt: iso } }),
  'PUT /me/signing-key': ({ body }: { body: unknown }) => ({ body: { ...(body as object), fingerprint: 'f', registeredAt: iso } }),
};

describe('login and signup', () => {
  it('login checks the token with GET /me, then saves endpoint and token 0600', async () => {
    // Prepare
    const api = fakeApi({ 'GET /me': () => ({ body: me }), ...keyRoutes });

    // Act
    const result = await runCli(['login', '--endpoint', `${ENDPOINT}/`], api, { env: { LATCHKEY_ENDPOINT: '', LATCHKEY_TOKEN: '' }, secret: TOKEN });

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(api.requests[0]).toMatchObject({ method: 'GET', path: '/me', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(JSON.parse(await readFile(result.configPath, 'utf8'))).toEqual({ endpoint: ENDPOINT, token: TOKEN });
    expect((await stat(result.configPath)).mode & 0o777).toBe(0o600);
    expect(result.stdout).toContain('as Ada Lovelace <ada@example.com> (owner) in Acme');
    expect(result.stdout + result.stderr).not.toContain(TOKEN);
  });

  it('login saves nothing when the API refuses the token, and exits 1', async () => {
    const api = fakeApi({ 'GET /me': () => problem(401, 'The token is not valid') });
    const result = await runCli(['login', '--endpoint', ENDPOINT, '--token', 'lk_wrong'], api, { env: { LATCHKEY_TOKEN: '' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Error: The token is not valid');
    await expect(stat(result.configPath)).rejects.toThrow(/ENOENT/);
  });

  it('login without any token is a usage error that sends nothing', async () => {
    const api = fakeApi({});
    const result = await runCli(['login', '--endpoint', ENDPOINT], api, { env: { LATCHKEY_TOKEN: '' }, secret: '' });
    expect(result.code).toBe(2);
    expect(api.requests).toEqual([]);
  });

  it('signup posts the account and saves the owner token without printing it', async () => {
    const secret = 'lk_owner-secret-000000000000000000000000000000';
    const api = fakeApi({
      'POST /accounts': () => ({ status: 201, body: { accountId: ids.account, ownerId: ids.owner, token: { id: ids.token, secret, expiresAt: iso } } }),
      'GET /me': () => ({ body: me }),
      ...keyRoutes,
    });
    const result = await runCli(['signup', '--endpoint', ENDPOINT, '--account', 'Acme', '--name', 'Ada Lovelace', '--email', 'Ada@Example.com', '--json'], api, {
      env: { LATCHKEY_TOKEN: '' },
    });
    expect(result.code).toBe(0);
    expect(api.requests[0]).toMatchObject({ method: 'POST', path: '/accounts', body: { accountName: 'Acme', owner: { name: 'Ada Lovelace', email: 'ada@example.com' } } });
    expect(api.requests[0]!.headers.authorization).toBeUndefined();
    expect(JSON.parse(await readFile(result.configPath, 'utf8')).token).toBe(secret);
    expect(JSON.parse(result.stdout)).toMatchObject({ accountId: ids.account, ownerId: ids.owner, tokenId: ids.token });
    expect(result.stdout + result.stderr).not.toContain(secret);
  });
});

describe('directory commands map arguments to requests', () => {
  it('users add', async () => {
    const firstToken = { tokenId: 'tok_0123456789abcdef0123456789abcdef', secret: 'lk_first-token-secret', expiresAt: '2030-01-08T00:00:00.000Z' };
    const api = fakeApi({ 'POST /users': ({ body }) => ({ status: 201, body: { ...grace, ...(body as object), firstToken } }) });
    const result = await runCli(['users', 'add', '--name', 'Grace Hopper', '--email', 'grace@example.com', '--role', 'approver'], api);
    expect(result.code).toBe(0);
    // The new person's first token is printed for the owner to hand over, exactly once.
    expect(result.stdout.split(firstToken.secret)).toHaveLength(2);
    expect(api.requests[0]).toMatchObject({ method: 'POST', path: '/users', body: { name: 'Grace Hopper', email: 'grace@example.com', role: 'approver' } });
  });

  it('users add with a role the schema refuses exits 2 and sends nothing', async () => {
    const api = fakeApi({});
    const result = await runCli(['users', 'add', '--name', 'G', '--email', 'g@example.com', '--role', 'owner'], api);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Error: role: .*\n {2}field: role/);
    expect(api.requests).toEqual([]);
  });

  it('tokens create prints the secret exactly once; tokens list never shows it', async () => {
    const secret = 'lk_created-secret-0000000000000000000000000000';
    const created = { tokenId: ids.ciToken, userId: ids.owner, label: 'ci', createdAt: iso, expiresAt: iso };
    const api = fakeApi({
      'POST /tokens': () => ({ status: 201, body: { ...created, secret } }),
      'GET /tokens': page([created]),
    });
    const create = await runCli(['tokens', 'create', '--label', 'ci', '--days', '30'], api);
    expect(create.code).toBe(0);
    expect(api.requests[0]!.body).toEqual({ label: 'ci', expiresInDays: 30 });
    expect(create.stdout.split(secret)).toHaveLength(2);

    const list = await runCli(['tokens', 'list'], api);
    expect(list.stdout).toContain(ids.ciToken);
    expect(list.stdout).not.toContain(secret);
  });

  it('tokens revoke accepts a label and warns when it was the CLI\'s own token', async () => {
    const own = { tokenId: ids.token, userId: ids.owner, label: 'laptop', createdAt: iso, expiresAt: iso };
    const api = fakeApi({
      'GET /tokens': page([own]),
      'GET /me': () => ({ body: me }),
      [`DELETE /tokens/${ids.token}`]: () => ({ body: { ...own, revokedAt: iso, alsoRevoked: [`tok_${'9'.repeat(32)}`] } }),
    });
    const result = await runCli(['tokens', 'revoke', 'laptop'], api);
    expect(result.code).toBe(0);
    expect(api.calls()).toContain(`DELETE /tokens/${ids.token}`);
    expect(result.stdout).toContain(`and the 1 token made with it (tok_${'9'.repeat(32)})`);
    expect(result.stderr).toContain('run `latchkey login`');
  });

  it('tokens revoke --all PERSON revokes every token of that person; a token and --all together is a usage error', async () => {
    const revoked = [`tok_${'8'.repeat(32)}`, `tok_${'9'.repeat(32)}`];
    const api = fakeApi({ 'GET /me': () => ({ body: me }), 'GET /users': page([owner, grace]), [`DELETE /users/${ids.grace}/tokens`]: () => ({ body: { userId: ids.grace, revoked } }) });
    const result = await runCli(['tokens', 'revoke', '--all', 'grace@example.com'], api);
    expect(result.code).toBe(0);
    expect(api.calls()).toContain(`DELETE /users/${ids.grace}/tokens`);
    expect(result.stdout).toContain(`Revoked every token of grace@example.com: 2 tokens (${revoked.join(', ')})`);
    expect((await runCli(['tokens', 'revoke', 'laptop', '--all', 'grace@example.com'], api)).code).toBe(2);
  });

  it('groups add-member resolves the group by name and the person by email', async () => {
    const api = fakeApi({
      'GET /groups': page([group]),
      'GET /users': page([owner, grace]),
      [`PUT /groups/${ids.group}/members/${ids.grace}`]: () => ({ body: { ...group, members: [ids.grace] } }),
    });
    const result = await runCli(['groups', 'add-member', 'release-managers', 'GRACE@example.com'], api);
    expect(result.code).toBe(0);
    expect(api.ownCalls()).toEqual(['GET /groups', 'GET /users', `PUT /groups/${ids.group}/members/${ids.grace}`]);
  });

  it('groups remove-member passes ids through without listing', async () => {
    const api = fakeApi({ [`DELETE /groups/${ids.group}/members/${ids.grace}`]: () => ({ body: group }) });
    const result = await runCli(['groups', 'remove-member', ids.group, ids.grace], api);
    expect(result.code).toBe(0);
    expect(api.ownCalls()).toEqual([`DELETE /groups/${ids.group}/members/${ids.grace}`]);
  });

  it('an unknown name exits 1 and says which', async () => {
    const api = fakeApi({ 'GET /groups': page([group]), 'GET /users': page([owner]) });
    const result = await runCli(['groups', 'add-member', 'nobody-group', 'ada@example.com'], api);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('No group matches "nobody-group"');
  });

  it('envs create sends only the policy settings given, with groups by id', async () => {
    const api = fakeApi({ 'GET /groups': page([group]), 'POST /environments': () => ({ status: 201, body: prod }) });
    const result = await runCli(
      ['envs', 'create', 'production', '--approval', '--approvers', 'release-managers', '--required', '2', '--allow-self-approval', '--window-hours', '24', '--var', 'URL=https://x/?a=b', '--var', 'REGION=eu'],
      api,
    );
    expect(result.code).toBe(0);
    expect(api.requests.find((r) => r.method === 'POST' && r.path === '/environments')!.body).toEqual({
      name: 'production',
      approval: { enabled: true, approverGroups: [ids.group], requiredApprovals: 2, preventSelfApproval: false, windowHours: 24 },
      variables: { URL: 'https://x/?a=b', REGION: 'eu' },
    });
  });

  it('envs set reads the environment and sends the whole variables map back', async () => {
    const api = fakeApi({
      'GET /environments': page([staging, prod]),
      [`PATCH /environments/${ids.prod}`]: () => ({ body: prod }),
    });
    const result = await runCli(['envs', 'set', 'production', '--var', 'API=https://api', '--unset', 'OLD', '--approval', 'on'], api);
    expect(result.code).toBe(0);
    expect(api.requests.find((r) => r.method === 'PATCH')!.body).toEqual({ approval: { enabled: true }, variables: { REGION: 'eu-west-1', API: 'https://api' } });
  });

  it('envs create leaves signed approvals to the API (signed), and --unsigned-approvals opts out with a warning', async () => {
    // Prepare
    const signed = { ...prod, approval: { ...policy, signed: true } };
    const optedOut = { ...prod, approval: { ...policy, signed: false } };
    const plainApi = fakeApi({ 'POST /environments': () => ({ status: 201, body: signed }) });
    const optOutApi = fakeApi({ 'POST /environments': () => ({ status: 201, body: optedOut }) });

    // Act
    const plain = await runCli(['envs', 'create', 'production'], plainApi);
    const optOut = await runCli(['envs', 'create', 'production', '--unsigned-approvals'], optOutApi);
    const both = await runCli(['envs', 'create', 'production', '--signed-approvals', '--unsigned-approvals'], fakeApi({}));

    // Assess
    expect(plain.code, plain.stderr).toBe(0);
    expect(plainApi.requests.find((r) => r.method === 'POST' && r.path === '/environments')!.body).toEqual({ name: 'production' });
    expect(plain.stdout).toContain('approvals signed');
    expect(plain.stderr).not.toContain('Warning');
    expect(optOut.code, optOut.stderr).toBe(0);
    expect(optOutApi.requests.find((r) => r.method === 'POST' && r.path === '/environments')!.body).toEqual({ name: 'production', approval: { signed: false } });
    expect(optOut.stdout).toContain('approvals UNSIGNED (owner opted out)');
    expect(optOut.stderr).toMatch(/Warning: approvals in production are not signed: an approver's click on the emailed link .* the backend's word/);
    expect(optOut.stderr).toContain('latchkey envs update production --signed-approvals');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
  });

  it('envs update (set) --unsigned-approvals opts out with a warning; --signed-approvals, or the older "on|off", sets it', async () => {
    // Prepare
    const patched: unknown[] = [];
    const api = fakeApi({
      'GET /environments': page([prod]),
      [`PATCH /environments/${ids.prod}`]: ({ body }) => {
        patched.push(body);
        const signed = (body as { approval: { signed: boolean } }).approval.signed;
        return { body: { ...prod, approval: { ...policy, signed } } };
      },
    });

    // Act
    const optOut = await runCli(['envs', 'update', 'production', '--unsigned-approvals'], api);
    const back = await runCli(['envs', 'update', 'production', '--signed-approvals'], api);
    const oldOn = await runCli(['envs', 'set', 'production', '--signed-approvals', 'on'], api);
    const oldOff = await runCli(['envs', 'set', 'production', '--signed-approvals', 'off'], api);
    const both = await runCli(['envs', 'update', 'production', '--signed-approvals', '--unsigned-approvals'], api);

    // Assess
    for (const result of [optOut, back, oldOn, oldOff]) expect(result.code, result.stderr).toBe(0);
    expect(patched).toEqual([{ approval: { signed: false } }, { approval: { signed: true } }, { approval: { signed: true } }, { approval: { signed: false } }]);
    expect(optOut.stderr).toContain("Warning: approvals in production are not signed: an approver's click on the emailed link");
    expect(oldOff.stderr).toContain('Warning: approvals in production are not signed');
    expect(back.stderr + oldOn.stderr).not.toContain('Warning');
    expect(both.code).toBe(2);
    expect(patched).toHaveLength(4);
  });

  it('envs list and show make an environment without signed approvals stand out; --json carries the setting', async () => {
    // Prepare
    const api = fakeApi({ 'GET /environments': page([{ ...prod, approval: { ...policy, signed: true } }, { ...staging, approval: { ...policy, signed: false } }]) });

    // Act
    const listed = await runCli(['envs', 'list'], api);
    const json = await runCli(['envs', 'list', '--json'], api);
    const shown = await runCli(['envs', 'show', 'staging'], api);

    // Assess
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/production\s.*\s72h\s+signed\s/);
    expect(listed.stdout).toMatch(/staging\s.*\s72h\s+UNSIGNED \(owner opted out\)\s/);
    expect(JSON.parse(json.stdout).map((e: { name: string; approval: { signed: boolean } }) => [e.name, e.approval.signed])).toEqual([['production', true], ['staging', false]]);
    expect(shown.stdout).toMatch(/approvals\s+UNSIGNED \(owner opted out\)/);
  });

  it('envs set with nothing to change is a usage error', async () => {
    const api = fakeApi({ 'GET /environments': page([prod]) });
    const result = await runCli(['envs', 'set', 'production'], api);
    expect(result.code).toBe(2);
    expect(api.calls()).not.toContain(`PATCH /environments/${ids.prod}`);
  });

  it('apps secure prints the reason of a 409 and exits 1', async () => {
    const api = fakeApi({
      'GET /apps': page([app]),
      [`PATCH /apps/${ids.app}`]: () => problem(409, 'Two key servers must be online; 1 is'),
    });
    const result = await runCli(['apps', 'secure', 'web-api'], api);
    expect(result.code).toBe(1);
    expect(api.requests.at(-1)!.body).toEqual({ secure: true });
    expect(result.stderr).toContain('Error: Two key servers must be online; 1 is');
  });

  it('enrolments create resolves environment names and sends a token key of its own (signing: key-lifecycle.test.ts)', async () => {
    const api = fakeApi({
      'GET /environments': page([staging, prod]),
      'GET /me': () => ({ body: me }),
    });
    const result = await runCli(['enrolments', 'create', '--role', 'target', '--env', 'staging', '--env', ids.prod, '--hours', '4'], api);
    // No owner key on this (test) machine: refused after resolving names, before anything is created.
    expect(result.code).toBe(1);
    expect(api.calls()).toEqual(['GET /environments', 'GET /me']);
    expect(result.stderr).toContain('owner key is not on this machine');
  });

  it('a target enrolment without an environment is refused before sending', async () => {
    const api = fakeApi({});
    const result = await runCli(['enrolments', 'create', '--role', 'target'], api);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('field: environments');
    expect(api.requests).toEqual([]);
  });
});

describe('audit', () => {
  it('list shows a first page by default and says there is more', async () => {
    const event = (seq: number) => ({ seq, at: iso, actor: null, action: 'x', outcome: 'succeeded', prevHash: '', hash: '' });
    const api = fakeApi({ 'GET /audit': ({ query }) => ({ body: { items: Array.from({ length: Number(query.limit) }, (_, i) => event(i)), nextCursor: 'n' } }) });
    const result = await runCli(['audit', 'list', '--json'], api);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toHaveLength(100);
    expect(result.stderr).toContain('--all');
  });
});

describe('exit codes and errors', () => {
  it('usage errors exit 2', async () => {
    const api = fakeApi({});
    for (const argv of [['nope'], ['users', 'list', '--limit', '0'], ['tokens', 'revoke'], ['audit', 'list', '--all', '--limit', '5']]) {
      expect((await runCli(argv, api)).code, argv.join(' ')).toBe(2);
    }
    expect(api.requests).toEqual([]);
  });

  it('--help and --version exit 0, and the help documents exit codes and env vars', async () => {
    const help = await runCli(['--help'], fakeApi({}));
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes:[\s\S]*3 {2}the API could not be reached/);
    expect(help.stdout).toContain('LATCHKEY_ENDPOINT and LATCHKEY_TOKEN');
    expect((await runCli(['--version'], fakeApi({}))).code).toBe(0);
    expect((await runCli(['envs', 'create', '--help'], fakeApi({}))).stdout).toContain('Examples:');
  });

  it('with --json an error is one JSON line on stderr', async () => {
    const api = fakeApi({ 'GET /apps': () => problem(403, 'Only the owner may list applications') });
    const result = await runCli(['apps', 'list', '--json'], api);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { title: 'Only the owner may list applications', status: 403, exitCode: 1 } });
  });

  it('not being logged in is a usage error', async () => {
    const result = await runCli(['whoami'], fakeApi({}), { env: { LATCHKEY_TOKEN: '' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('latchkey login');
  });
});
