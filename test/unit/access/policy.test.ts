import { describe, expect, it } from 'vitest';
import { actions, authorize, isAllowed } from '#shared/domain/access/policy.ts';
import { ForbiddenError } from '#shared/domain/errors.ts';

const actor = (role: 'owner' | 'deployer' | 'approver') => ({ accountId: 'acc', userId: 'usr', tokenId: 'tok', role });

describe('policy', () => {
  it('lets the owner do everything', () => {
    for (const action of actions) expect(isAllowed(actor('owner'), action)).toBe(true);
  });

  it('keeps administration to the owner', () => {
    for (const role of ['deployer', 'approver'] as const) {
      for (const action of ['users:create', 'groups:create', 'groups:manage-members', 'environments:create', 'environments:update', 'apps:create', 'apps:update', 'enrolments:create', 'audit:read'] as const) {
        expect(isAllowed(actor(role), action), `${role} ${action}`).toBe(false);
      }
    }
  });

  it('lets others revoke only what is theirs', () => {
    expect(isAllowed(actor('deployer'), 'tokens:revoke', { ownedByActor: true })).toBe(true);
    expect(isAllowed(actor('deployer'), 'tokens:revoke', { ownedByActor: false })).toBe(false);
    expect(() => authorize(actor('approver'), 'tokens:revoke')).toThrow(ForbiddenError);
  });
});
