import { describe, expect, it } from 'vitest';
import { deploymentsFor, expectedAudit, expectedHistory, planFor, type Plan } from '../../../bench/load.ts';

describe('load test plans', () => {
  it('200 deployments deploy, and one for each five more ends at a decision', () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < deploymentsFor(200); i += 1) counts[planFor(i)] = (counts[planFor(i)] ?? 0) + 1;
    expect(counts).toEqual({ deploy: 200, decline: 20, 'cancel-approved': 10, 'cancel-pending': 10 });
  });

  it('any number asked for deploys exactly that many', () => {
    for (let deploying = 0; deploying <= 60; deploying += 1) {
      const plans = Array.from({ length: deploymentsFor(deploying) }, (_, i) => planFor(i));
      expect(plans.filter((p) => p === 'deploy')).toHaveLength(deploying);
    }
  });

  it('each history is a chain from creation, every transition once', () => {
    for (const plan of ['cancel-approved', 'decline', 'cancel-pending', 'deploy'] as Plan[]) {
      const steps = expectedHistory(plan, 'Failed');
      expect(steps[0]).toEqual({ from: null, to: 'PendingApproval' });
      steps.slice(1).forEach((step, i) => expect(step.from).toBe(steps[i]!.to));
      expect(new Set(steps.map((s) => `${s.from}->${s.to}`)).size).toBe(steps.length);
    }
  });

  it('a deploy ends Succeeded unless told otherwise; the others end at their decision', () => {
    expect(expectedHistory('deploy').at(-1)!.to).toBe('Succeeded');
    expect(expectedHistory('deploy', 'Failed').at(-1)!.to).toBe('Failed');
    expect(expectedHistory('cancel-approved').at(-1)!.to).toBe('Canceled');
    expect(expectedHistory('decline').at(-1)!.to).toBe('Declined');
    expect(expectedHistory('cancel-pending').at(-1)!.to).toBe('Canceled');
  });

  it('audit: one create per deployment; decline and deploy are audited as approver actions', () => {
    expect(expectedAudit('decline')).toEqual({ 'deployments:create': 1, 'deployments:approve': 2 });
    expect(expectedAudit('deploy')).toEqual({ 'deployments:create': 1, 'deployments:approve': 3 });
    expect(expectedAudit('cancel-approved')).toEqual({ 'deployments:create': 1, 'deployments:approve': 2, 'deployments:cancel': 1 });
    expect(expectedAudit('cancel-pending')).toEqual({ 'deployments:create': 1, 'deployments:cancel': 1 });
  });
});
