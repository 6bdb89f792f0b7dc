import { describe, expect, it } from 'vitest';
import { approvalFrom, environmentPatch, variablesAfter } from '#cli/commands/envs.ts';
import { RefusedError, UsageError } from '#cli/errors.ts';
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
