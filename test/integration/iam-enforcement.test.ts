import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functions, type Bindings, type FunctionDeclaration } from '#functions/catalog.ts';
import { synthesizeInto } from '#local/iam/local-synth.ts';
import { LOCAL_MAIL_FROM } from '#local/stack.ts';
import { waitFor } from '../support/clients.ts';
import { approvalSetup, stateOf } from '../support/deployments.ts';
import { serveFileFrom, startOwnStack, type OwnStack } from '../support/own-stack.ts';

/**
 * Issue 18: the local stack enforces each function's IAM policy from the synthesized template.
 * Here the app is synthesized with ONE grant removed from one binding — approve-deployment may
 * only read the deployments table — and the stack runs with that template: approving, a flow
 * that works on the shared stack, now fails, as it would on AWS, and says which grant is missing.
 */
describe('IAM enforcement: one grant removed from a binding', () => {
  let dir: string;
  let stack: OwnStack;
  let undo: () => void;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'latchkey-one-grant-less-'));
    const approve = functions['approve-deployment'] as FunctionDeclaration;
    const bind: Bindings = { ...approve.bind, tables: { ...approve.bind.tables, deployments: 'RO' } };
    await synthesizeInto(path.join(dir, 'assembly'), {
      stage: 'local',
      mailFrom: LOCAL_MAIL_FROM,
      agentOnlineSeconds: 90,
      agentHeartbeatSeconds: 30,
      catalog: { ...functions, 'approve-deployment': { ...approve, bind } },
    });
    stack = await startOwnStack({ assembly: path.join(dir, 'assembly'), env: { POWERTOOLS_LOG_LEVEL: 'ERROR' } });
    undo = serveFileFrom(stack);
  }, 90_000);

  afterAll(async () => {
    undo?.();
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('approving fails (500) and leaves the deployment as it was; the stack names the denied call', async () => {
    // Prepare: everything else works as on the shared stack.
    const s = await approvalSetup({ target: false });
    const created = await s.deploy();
    expect(created.state).toBe('PendingApproval');

    // Act
    const approved = await s.a.approver.call('POST', `/deployments/${created.deploymentId}/approve`, { deploy: true });

    // Assess
    expect(approved.status).toBe(500);
    expect(await stateOf(s.a.owner, created.deploymentId)).toBe('PendingApproval');
    await waitFor('the denial on the stack’s stderr', async () =>
      /\[local IAM\] latchkey-approve-deployment: AccessDenied: User: arn:aws:sts::000000000000:assumed-role\/\w+\/latchkey-approve-deployment is not authorized to perform: dynamodb:UpdateItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table\/latchkey-deployments because no identity-based policy allows the dynamodb:UpdateItem action/.test(stack.stderr())
        ? true
        : undefined,
    );
    // The same grant's other functions are untouched: a decline (decline-deployment, RW) works.
    const declined = await s.a.approver.call('POST', `/deployments/${created.deploymentId}/decline`, { message: 'not today' });
    expect(declined.status).toBe(200);
  }, 60_000);
});
