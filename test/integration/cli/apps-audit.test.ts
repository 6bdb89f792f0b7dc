import { describe, expect, it } from 'vitest';
import { cliSession } from './run-cli.ts';

describe('latchkey apps and enrolments', () => {
  it('creates and lists applications, following --limit', async () => {
    const cli = await cliSession();
    await cli.signup();
    for (const name of ['web', 'worker', 'cron']) expect((await cli.run(['apps', 'create', name])).code).toBe(0);
    const all = await cli.json<{ name: string; secure: boolean }[]>(['apps', 'list']);
    expect(all.map((a) => a.name).sort()).toEqual(['cron', 'web', 'worker']);
    const two = await cli.run(['apps', 'list', '--limit', '2', '--json']);
    expect(JSON.parse(two.stdout)).toHaveLength(2);
    expect(two.stderr).toContain('there are more');
  });

  it('refuses to make an application secure without two online key servers, printing why', async () => {
    const cli = await cliSession();
    await cli.signup();
    await cli.run(['apps', 'create', 'web']);
    const result = await cli.run(['apps', 'secure', 'web']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Error: .*key server/im);
  });

  it('creates an enrolment token, printed once', async () => {
    const cli = await cliSession();
    await cli.signup();
    await cli.run(['envs', 'create', 'staging']);
    const keyserver = await cli.json(['enrolments', 'create', '--role', 'keyserver']);
    expect(keyserver).toMatchObject({ role: 'keyserver', environments: [], token: expect.any(String) });
    const target = await cli.run(['enrolments', 'create', '--role', 'target', '--env', 'staging', '--hours', '2']);
    expect(target.code).toBe(0);
    expect(target.stdout).toMatch(/Created and signed a target enrolment/);
    expect(target.stdout).toMatch(/\n {2}lke_enr_[0-9a-f]{32}_[A-Za-z0-9_-]{43}\n/);
    expect(target.stdout).toContain(' latchkey-agent enrol --state /var/lib/latchkey\n');
    expect(target.stdout).toContain('Then start it on the server: systemctl enable --now latchkey-agent');
    const noEnv = await cli.run(['enrolments', 'create', '--role', 'target']);
    expect(noEnv.code).toBe(2);
    expect(noEnv.stderr).toContain('field: environments');
  });
});

describe('latchkey audit', () => {
  it('lists what happened and verifies the chain', async () => {
    const cli = await cliSession();
    await cli.signup();
    await cli.run(['apps', 'create', 'web']);
    const events = await cli.json<{ seq: number; action: string; outcome: string }[]>(['audit', 'list', '--all']);
    expect(events.length).toBeGreaterThan(0);
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));
    const verify = await cli.run(['audit', 'verify']);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain('intact');
  });
});
