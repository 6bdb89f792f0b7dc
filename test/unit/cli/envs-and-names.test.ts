import { describe, expect, it } from 'vitest';
import { approvalFrom, approvalsColumn, environmentPatch, signedFrom, variablesAfter } from '#cli/commands/envs.ts';
import type { ApiClient } from '#cli/api-client.ts';
import { RefusedError, UsageError } from '#cli/errors.ts';
import { environmentStatementContent } from '#cli/owner-statements.ts';
import { kinds, pick } from '#cli/resolve.ts';
import { hex, iso } from './fake-api.ts';

describe('variablesAfter', () => {
  it('sets, overwrites and unsets, keeping everything else', () => {
    expect(variablesAfter({ A: '1', B: '2', C: '3' }, ['B=two', 'D=x=y'], ['C'])).toEqual({ A: '1', B: 'two', D: 'x=y' });
  });

  it('allows an empty value but not an empty key, and refuses to unset what is not there', () => {
    expect(variablesAfter({}, ['A='])).toEqual({ A: '' });
    expect(() => variablesAfter({}, ['=1'])).toThrow(UsageError);
    expect(() => variablesAfter({}, ['NOEQUALS'])).toThrow(UsageError);
    expect(() => variablesAfter({ A: '1' }, [], ['B'])).toThrow(/no such variable/);
  });

  it('does not change the map it was given', () => {
    const current = { A: '1' };
    variablesAfter(current, ['A=2']);
    expect(current).toEqual({ A: '1' });
  });
});

describe('approvalFrom and environmentPatch', () => {
  it('includes only the settings given', () => {
    expect(approvalFrom({}, undefined)).toBeUndefined();
    expect(approvalFrom({ required: 2 }, undefined)).toEqual({ requiredApprovals: 2 });
    expect(approvalFrom({ approval: false, preventSelfApproval: true }, [])).toEqual({ enabled: false, preventSelfApproval: true, approverGroups: [] });
    expect(() => approvalFrom({ allowSelfApproval: true, preventSelfApproval: true }, undefined)).toThrow(UsageError);
  });

  it('signed approvals: left to the API unless asked; --unsigned-approvals opts out, --signed-approvals (or its older on|off) turns them back on', () => {
    expect(signedFrom({})).toBeUndefined();
    expect(approvalFrom({ approval: true }, undefined)).toEqual({ enabled: true });
    expect(approvalFrom({ unsignedApprovals: true }, undefined)).toEqual({ signed: false });
    expect(approvalFrom({ signedApprovals: true }, undefined)).toEqual({ signed: true });
    expect(approvalFrom({ signedApprovals: false }, undefined)).toEqual({ signed: false });
    expect(() => approvalFrom({ signedApprovals: true, unsignedApprovals: true }, undefined)).toThrow(/not both/);
    expect(() => signedFrom({ signedApprovals: false, unsignedApprovals: true })).toThrow(UsageError);
    // An opt-out alone is a change (not "nothing to change").
    expect(environmentPatch({ variables: {} }, { unsignedApprovals: true }, undefined)).toEqual({ approval: { signed: false } });
  });

  it('an environment that does not require signed approvals stands out', () => {
    expect(approvalsColumn({ approval: { enabled: true, approverGroups: [], requiredApprovals: 1, preventSelfApproval: true, windowHours: 72, signed: true } })).toBe('signed');
    expect(approvalsColumn({ approval: { enabled: true, approverGroups: [], requiredApprovals: 1, preventSelfApproval: true, windowHours: 72, signed: false } })).toBe('UNSIGNED (owner opted out)');
  });

  it('the owner\'s environment statement follows the setting', async () => {
    const client = { list: async () => ({ items: [] }) } as unknown as ApiClient;
    const environment = (signed: boolean) => ({
      environmentId: `env_${hex(4)}`,
      name: 'production',
      approval: { enabled: true, approverGroups: [], requiredApprovals: 1, preventSelfApproval: true, windowHours: 72, signed },
      variables: {},
      reportScriptOutput: false,
      createdAt: iso,
      updatedAt: iso,
    });
    expect((await environmentStatementContent(client, environment(true))).approval.signed).toBe(true);
    expect((await environmentStatementContent(client, environment(false))).approval.signed).toBe(false);
  });

  it('sends variables only when they change', () => {
    const current = { variables: { A: '1' } };
    expect(environmentPatch(current, { windowHours: 4 }, undefined)).toEqual({ approval: { windowHours: 4 } });
    expect(environmentPatch(current, { var: ['B=2'] }, undefined)).toEqual({ variables: { A: '1', B: '2' } });
    expect(() => environmentPatch(current, {}, undefined)).toThrow(/Nothing to change/);
  });
});

describe('pick', () => {
  const person = (n: number, name: string, email: string) => ({ userId: `usr_${hex(n)}`, name, email, role: 'deployer' as const, createdAt: iso });
  const people = [person(1, 'Ada Lovelace', 'ada@example.com'), person(2, 'Sam', 'sam1@example.com'), person(3, 'Sam', 'sam2@example.com')];

  it('matches an id exactly, and an email or name case-insensitively', () => {
    expect(pick(kinds.user, people, `usr_${hex(2)}`).email).toBe('sam1@example.com');
    expect(pick(kinds.user, people, 'ADA@example.com').userId).toBe(`usr_${hex(1)}`);
    expect(pick(kinds.user, people, 'ada lovelace').userId).toBe(`usr_${hex(1)}`);
  });

  it('refuses an ambiguous name (usage, exit 2) and an unknown one (exit 1)', () => {
    expect(() => pick(kinds.user, people, 'sam')).toThrow(UsageError);
    expect(() => pick(kinds.user, people, 'sam')).toThrow(/matches 2 people/);
    expect(() => pick(kinds.user, people, 'nobody')).toThrow(RefusedError);
  });
});
