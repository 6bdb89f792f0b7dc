import { describe, expect, it } from 'vitest';
import { cliSession } from './run-cli.ts';

describe('latchkey envs', () => {
  it('creates an environment with a policy and variables, and changes one variable keeping the rest', async () => {
    // Prepare
    const cli = await cliSession();
    await cli.signup();
    await cli.run(['groups', 'create', 'approvers']);

    // Act
    const created = await cli.json(['envs', 'create', 'production', '--approval', '--approvers', 'approvers', '--required', '1', '--window-hours', '24', '--var', 'REGION=eu-west-1', '--var', 'OLD=1']);
    const updated = await cli.json(['envs', 'set', 'production', '--var', 'URL=https://example.com/?a=b', '--unset', 'OLD', '--allow-self-approval']);
    const listed = await cli.run(['envs', 'list']);
    const shown = await cli.run(['envs', 'show', 'production']);
    const reporting = await cli.json(['envs', 'set', 'production', '--script-output', 'reported']);
    const relisted = await cli.run(['envs', 'list']);

    // Assess
    expect(created).toMatchObject({ name: 'production', approval: { enabled: true, requiredApprovals: 1, windowHours: 24, preventSelfApproval: true, signed: true } });
    expect(created.approval.approverGroups).toHaveLength(1);
    expect(updated.variables).toEqual({ REGION: 'eu-west-1', URL: 'https://example.com/?a=b' });
    expect(updated.approval).toMatchObject({ enabled: true, preventSelfApproval: false, windowHours: 24 });
    expect(listed.stdout).toMatch(/production\s+on\s+approvers\s+1\s+allowed\s+24h\s+signed\s+kept on targets\s+REGION, URL/);
    expect(reporting).toMatchObject({ reportScriptOutput: true, variables: { REGION: 'eu-west-1', URL: 'https://example.com/?a=b' } });
    expect(relisted.stdout).toMatch(/24h\s+signed\s+reported\s+REGION, URL/);
    expect(listed.stdout).not.toContain('eu-west-1'); // values only in `envs show`
    expect(shown.stdout).toContain('$REGION');
    expect(shown.stdout).toContain('eu-west-1');
    expect(shown.stdout).toMatch(/approvals\s+signed/);
  });

  it('--unsigned-approvals on create is the owner\'s opt-out: warned, and it stands out in envs list', async () => {
    // Prepare
    const cli = await cliSession();
    await cli.signup();

    // Act
    const optedOut = await cli.run(['envs', 'create', 'sandbox', '--unsigned-approvals']);
    await cli.run(['envs', 'create', 'production']);
    const listed = await cli.run(['envs', 'list']);
    const json = await cli.json<{ name: string; approval: { signed: boolean } }[]>(['envs', 'list']);

    // Assess
    expect(optedOut.code, optedOut.stderr).toBe(0);
    expect(optedOut.stdout).toContain('approvals UNSIGNED (owner opted out)');
    expect(optedOut.stderr).toContain("Warning: approvals in sandbox are not signed: an approver's click on the emailed link");
    expect(listed.stdout).toMatch(/sandbox\s.*\sUNSIGNED \(owner opted out\)\s/);
    expect(listed.stdout).toMatch(/production\s.*\s72h\s+signed\s/);
    expect(Object.fromEntries(json.map((e) => [e.name, e.approval.signed]))).toEqual({ sandbox: false, production: true });
  });
});
