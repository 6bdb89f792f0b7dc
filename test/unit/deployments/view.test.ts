import { describe, expect, it } from 'vitest';
import { deploymentView } from '#shared/domain/deployments/view.ts';
import { pendingDeployment } from '../../support/deployment-fixture.ts';

const now = new Date('2026-11-24T10:00:00.000Z');

describe('the deployment view', () => {
  it('shows the key server that granted and its receipt as it sent it, never the keys it made', () => {
    const receipt = { receipt: { kind: 'grant-issued' }, signature: 'sig' };
    const d = pendingDeployment({}, {
      state: 'InProgress',
      grantOutcome: { requestId: 'req_1', agentId: 'agt_k1', result: { version: 1, deploymentKeyUnderMaster: 'KEY-UNDER-MASTER', keyList: 'KEY-LIST', grants: [{ agentId: 'agt_t1', wrappedDeploymentKey: 'WRAPPED', grant: 'GRANT' }], receipt } },
    });
    const view = deploymentView(d, now);
    expect(view.grant).toEqual({ agentId: 'agt_k1', receipt });
    expect(JSON.stringify(view)).not.toMatch(/KEY-UNDER-MASTER|KEY-LIST|WRAPPED|GRANT/);
  });

  it('shows no grant for a plain deployment, or one whose grant was refused; a grant without a receipt shows its key server only', () => {
    expect(deploymentView(pendingDeployment(), now)).not.toHaveProperty('grant');
    expect(deploymentView(pendingDeployment({}, { grantOutcome: { failed: 'Key server k1 refused' } }), now)).not.toHaveProperty('grant');
    expect(deploymentView(pendingDeployment({}, { grantOutcome: { requestId: 'req_1', agentId: 'agt_k1', result: {} } }), now).grant).toEqual({ agentId: 'agt_k1' });
  });

  it('shows each target’s report with its receipt', () => {
    const receipt = { receipt: { kind: 'release-installed' }, signature: 'sig' } as never;
    const d = pendingDeployment({}, { deployTargets: ['agt_t1', 'agt_t2'], targetReports: { agt_t1: { outcome: 'succeeded', at: now.toISOString(), current: 'r1', output: '', receipt } } });
    expect(deploymentView(d, now).targets).toEqual([
      { agentId: 'agt_t1', outcome: 'succeeded', at: now.toISOString(), current: 'r1', output: '', receipt },
      { agentId: 'agt_t2', outcome: 'pending' },
    ]);
  });
});
