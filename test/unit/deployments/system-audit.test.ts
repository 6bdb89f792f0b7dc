import { describe, expect, it } from 'vitest';
import { makeAct } from '#shared/domain/access/act.ts';
import { makeAuditTrail } from '#shared/domain/audit/audit-trail.ts';
import { verifyChain } from '#shared/domain/audit/chain.ts';
import type { Deployment } from '#shared/domain/deployments/model.ts';
import { makeDeployments } from '#shared/domain/deployments/deployments.ts';
import { ConflictError } from '#shared/domain/errors.ts';
import type { DeploymentStore, StoredDeployment } from '#shared/ports/deployment-store.ts';
import { pendingDeployment } from '../../support/deployment-fixture.ts';
import { memoryAuditLog } from '../../support/memory-audit-log.ts';

/** System transitions (the workflow's finish and expire) are audited once, whatever the retries. */
const setup = (deployment: Deployment, now = new Date('2026-11-24T10:00:00.000Z')) => {
  let stored: StoredDeployment = structuredClone(deployment);
  const store = {
    get: async () => structuredClone(stored),
    save: async (next: Deployment, expected: number) => (stored.version === expected ? (stored = structuredClone(next)) : undefined),
  } as Pick<DeploymentStore, 'get' | 'save'> as DeploymentStore;
  const log = memoryAuditLog();
  const clock = { now: () => now };
  const audit = makeAuditTrail({ log, clock });
  const deployments = makeDeployments({ directory: {} as never, releases: {} as never, deployments: store, workflow: {} as never, signed: {} as never, act: makeAct(audit), audit, clock, ids: {} as never });
  const events = () => log.events(deployment.accountId);
  return { system: deployments.system, log, events };
};

describe('system transitions are audited', () => {
  it.each([
    [true, undefined, 'Succeeded'],
    [true, 'Installed on 2 targets', 'Succeeded: Installed on 2 targets'],
    [false, 'Failed on 1 of 1 targets. t1: UntrustedSigner: refused', 'Failed: Failed on 1 of 1 targets. t1: UntrustedSigner: refused'],
  ] as const)('finish (succeeded %s) writes one event naming the outcome and its reason; a retried task writes none', async (succeeded, reason, audited) => {
    const s = setup(pendingDeployment({}, { state: 'InProgress' }));
    await s.system.finish('acc_1', 'dep_1', succeeded, reason);
    await expect(s.system.finish('acc_1', 'dep_1', succeeded, reason)).rejects.toThrow(ConflictError);
    expect(s.events()).toMatchObject([{ seq: 1, action: 'deployments:finish', actor: null, target: { type: 'deployment', id: 'dep_1' }, outcome: 'succeeded', reason: audited }]);
    expect(verifyChain(s.events()).valid).toBe(true);
  });

  it('expiry writes one event, from PendingApproval or Approved; a retried task writes none', async () => {
    for (const state of ['PendingApproval', 'Approved'] as const) {
      const s = setup(pendingDeployment({}, { state }), new Date('2026-11-27T00:00:00.000Z'));
      await s.system.expire('acc_1', 'dep_1');
      await expect(s.system.expire('acc_1', 'dep_1')).rejects.toThrow(ConflictError);
      expect(s.events()).toMatchObject([{ action: 'deployments:expire', actor: null, target: { type: 'deployment', id: 'dep_1' }, reason: `Expired while ${state}: its window ended at 2026-11-26T10:00:00.000Z` }]);
    }
  });

  it('a task that moved the deployment but stopped before its event is retried: the retry writes the event, once', async () => {
    const s = setup(pendingDeployment({}, { state: 'InProgress' }));
    s.log.failNextPut();
    await expect(s.system.finish('acc_1', 'dep_1', false, 'no target reported')).rejects.toThrow('the audit write failed');
    expect(s.events()).toEqual([]);
    await expect(s.system.finish('acc_1', 'dep_1', false, 'no target reported')).rejects.toThrow(ConflictError);
    await expect(s.system.finish('acc_1', 'dep_1', false, 'no target reported')).rejects.toThrow(ConflictError);
    expect(s.events()).toMatchObject([{ action: 'deployments:finish', reason: 'Failed: no target reported' }]);
  });

  it('an expiry refused because the deployment moved on (deployed meanwhile) writes nothing', async () => {
    const s = setup(pendingDeployment({}, { state: 'InProgress' }), new Date('2026-11-27T00:00:00.000Z'));
    await expect(s.system.expire('acc_1', 'dep_1')).rejects.toThrow(ConflictError);
    expect(s.events()).toEqual([]);
  });
});
