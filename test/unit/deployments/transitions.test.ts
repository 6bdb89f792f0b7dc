import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyAction, isTerminal, type DeploymentAction, type DeploymentActor } from '#shared/domain/deployments/transitions.ts';
import type { Deployment } from '#shared/domain/deployments/model.ts';
import { DomainError, ForbiddenError } from '#shared/domain/errors.ts';
import { pendingDeployment } from '../../support/deployment-fixture.ts';

const during = new Date('2026-11-24T10:00:00.000Z');
const after = new Date('2026-11-27T10:00:00.000Z');

const owner: DeploymentActor = { userId: 'usr_owner', role: 'owner' };
const deployer: DeploymentActor = { userId: 'usr_deployer', role: 'deployer' };
const approver = (id: string): DeploymentActor => ({ userId: id, role: 'approver' });
const outsider: DeploymentActor = { userId: 'usr_outsider', role: 'approver' };

describe('deployment transitions (DESIGN §4, row by row)', () => {
  it('Approve keeps PendingApproval until the count is reached, then Approved', () => {
    const one = applyAction(pendingDeployment(), { kind: 'approve', deploy: false }, approver('usr_a'), during);
    expect(one.next.state).toBe('PendingApproval');
    expect(one.decision).toBeUndefined();
    const two = applyAction(one.next, { kind: 'approve', deploy: false }, approver('usr_b'), during);
    expect(two.next.state).toBe('Approved');
    expect(two.decision).toBe('approved');
  });

  it('Approve and Deploy goes to InProgress once the count is reached', () => {
    const one = applyAction(pendingDeployment({ requiredApprovals: 1 }), { kind: 'approve', deploy: true }, approver('usr_a'), during);
    expect(one.next.state).toBe('InProgress');
    expect(one.decision).toBe('deploy');
  });

  it('Decline needs a message and ends in Declined', () => {
    expect(() => applyAction(pendingDeployment(), { kind: 'decline', message: '  ' }, approver('usr_a'), during)).toThrow(/message/);
    const declined = applyAction(pendingDeployment(), { kind: 'decline', message: 'not on a Friday' }, approver('usr_a'), during);
    expect(declined.next).toMatchObject({ state: 'Declined', declined: { userId: 'usr_a', message: 'not on a Friday' } });
  });

  it('Cancel from PendingApproval by the deployer or the owner, not an approver', () => {
    expect(applyAction(pendingDeployment(), { kind: 'cancel' }, deployer, during).next.state).toBe('Canceled');
    expect(applyAction(pendingDeployment(), { kind: 'cancel' }, owner, during).next.state).toBe('Canceled');
    expect(() => applyAction(pendingDeployment(), { kind: 'cancel' }, approver('usr_a'), during)).toThrow(ForbiddenError);
  });

  it('Approved: Deploy by an approver or the owner; Cancel by approver, owner or deployer', () => {
    const approved = pendingDeployment({ requiredApprovals: 1 }, { state: 'Approved' });
    expect(applyAction(approved, { kind: 'deploy' }, approver('usr_b'), during).next.state).toBe('InProgress');
    expect(applyAction(approved, { kind: 'deploy' }, owner, during).next.state).toBe('InProgress');
    expect(() => applyAction(approved, { kind: 'deploy' }, outsider, during)).toThrow(ForbiddenError);
    for (const who of [approver('usr_c'), owner, deployer]) expect(applyAction(approved, { kind: 'cancel' }, who, during).next.state).toBe('Canceled');
    expect(() => applyAction(approved, { kind: 'cancel' }, outsider, during)).toThrow(ForbiddenError);
  });

  it('the window passing expires a waiting deployment, and acting after it is refused', () => {
    expect(applyAction(pendingDeployment(), { kind: 'expire' }, null, after).next.state).toBe('Expired');
    expect(() => applyAction(pendingDeployment(), { kind: 'approve', deploy: false }, approver('usr_a'), after)).toThrow(/window has passed/);
  });

  it('InProgress ends in Succeeded or Failed with the reason', () => {
    const running = pendingDeployment({}, { state: 'InProgress' });
    expect(applyAction(running, { kind: 'finish', succeeded: true }, null, during).next.state).toBe('Succeeded');
    expect(applyAction(running, { kind: 'finish', succeeded: false, reason: 'target t1 failed' }, null, during).next).toMatchObject({ state: 'Failed', outcome: { reason: 'target t1 failed' } });
  });

  it('preventSelfApproval stops the deployer, even as an eligible approver or the owner', () => {
    expect(() => applyAction(pendingDeployment(), { kind: 'approve', deploy: false }, deployer, during)).toThrow(/someone else/);
    const byOwner = pendingDeployment({}, { deployerId: 'usr_owner' });
    expect(() => applyAction(byOwner, { kind: 'approve', deploy: false }, owner, during)).toThrow(/someone else/);
    const allowed = pendingDeployment({ preventSelfApproval: false, requiredApprovals: 1 });
    expect(applyAction(allowed, { kind: 'approve', deploy: false }, deployer, during).next.state).toBe('Approved');
  });

  it('one vote per person; outsiders cannot vote; the owner always can', () => {
    const one = applyAction(pendingDeployment(), { kind: 'approve', deploy: false }, approver('usr_a'), during).next;
    expect(() => applyAction(one, { kind: 'approve', deploy: false }, approver('usr_a'), during)).toThrow(/already approved/);
    expect(() => applyAction(one, { kind: 'approve', deploy: false }, outsider, during)).toThrow(ForbiddenError);
    expect(applyAction(one, { kind: 'approve', deploy: false }, owner, during).next.state).toBe('Approved');
  });
});

describe('deployment transitions (property-based)', () => {
  const actors = [owner, deployer, approver('usr_a'), approver('usr_b'), approver('usr_c'), outsider];
  const action: fc.Arbitrary<DeploymentAction> = fc.oneof(
    fc.record({ kind: fc.constant('approve' as const), deploy: fc.boolean() }),
    fc.record({ kind: fc.constant('decline' as const), message: fc.constantFrom('', 'no', 'not today') }),
    fc.constant({ kind: 'deploy' as const }),
    fc.constant({ kind: 'cancel' as const }),
    fc.constant({ kind: 'expire' as const }),
    fc.record({ kind: fc.constant('finish' as const), succeeded: fc.boolean() }),
  );
  const step = fc.tuple(action, fc.option(fc.constantFrom(...actors), { nil: null }), fc.boolean());

  it('holds the invariants over any sequence of actions by anyone', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.array(step, { maxLength: 25 }), (required, preventSelf, steps) => {
        let deployment: Deployment = pendingDeployment({ requiredApprovals: required, preventSelfApproval: preventSelf });
        for (const [act, actor, late] of steps) {
          const before = deployment;
          try {
            deployment = applyAction(deployment, act, actor, late ? after : during).next;
          } catch (error) {
            expect(error).toBeInstanceOf(DomainError);
            continue;
          }
          // A terminal state never changes.
          expect(isTerminal(before.state)).toBe(false);
          // Every successful action is one version step, recorded in the history.
          expect(deployment.version).toBe(before.version + 1);
          expect(deployment.history.at(-1)!.to).toBe(deployment.state);
        }
        const voters = deployment.votes.map((v) => v.userId);
        expect(new Set(voters).size).toBe(voters.length);
        for (const voter of voters) expect(['usr_owner', ...deployment.eligibleApprovers]).toContain(voter);
        if (preventSelf) expect(voters).not.toContain(deployment.deployerId);
        const reachedDeploy = deployment.history.some((t) => t.to === 'InProgress');
        if (reachedDeploy) expect(deployment.votes.length).toBeGreaterThanOrEqual(required);
        if (deployment.state === 'Declined') expect(deployment.declined!.message.trim()).not.toBe('');
      }),
      { numRuns: 2000 },
    );
  });
});
