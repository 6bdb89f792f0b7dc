import { makeAct } from '#shared/domain/access/act.ts';
import { makeAuditTrail } from '#shared/domain/audit/audit-trail.ts';
import { makeApprovalNotices } from '#shared/domain/deployments/approval-links.ts';
import { makeDeployments } from '#shared/domain/deployments/deployments.ts';
import { makeSignedDecisions } from '#shared/domain/deployments/signed-decisions.ts';
import type { Workflow } from '#shared/ports/deployment-store.ts';
import { systemClock } from '#shared/ports/clock.ts';
import { randomIds } from '#shared/ports/ids.ts';
import { dynamo, ses, sfn } from './adapters/aws-clients.ts';
import { dynamoApprovalLinks } from './adapters/dynamo-approval-links.ts';
import { dynamoAuditLog } from './adapters/dynamo-audit-log.ts';
import { dynamoDeploymentStore } from './adapters/dynamo-deployment-store.ts';
import { dynamoDirectoryStore } from './adapters/dynamo-directory-store.ts';
import { dynamoReleaseStore } from './adapters/dynamo-release-store.ts';
import { dynamoStatementStore } from './adapters/dynamo-statement-store.ts';
import { sesMailer } from './adapters/ses-mailer.ts';
import { sfnWorkflow } from './adapters/sfn-workflow.ts';
import { stateMachineArn, tableName } from './config.ts';
import { lazyPort } from './lazy-port.ts';

// The composition root of everything that touches deployments, for API routes and workflow
// tasks alike. Each function is bound only to what it uses; the parts it is not bound to are
// never called by it (and would fail loudly, naming the missing binding, if they were).
const clock = systemClock;
export const directory = lazyPort(() => dynamoDirectoryStore(dynamo(), tableName('directory')));
export const deploymentStore = dynamoDeploymentStore(dynamo(), tableName('deployments'));
export const audit = makeAuditTrail({ log: lazyPort(() => dynamoAuditLog(dynamo(), tableName('deployments'))), clock });
export const act = makeAct(audit);

let engine: Workflow | undefined;
const workflow: Workflow = {
  start: (deployment) => (engine ??= sfnWorkflow(sfn(), stateMachineArn('deployment'))).start(deployment),
  // Answering a task token needs no state machine ARN, only the permission.
  resume: (token, output) => (engine ??= sfnWorkflow(sfn(), process.env.DEPLOYMENT_STATE_MACHINE_ARN ?? 'unbound')).resume(token, output),
  heartbeat: (token) => (engine ??= sfnWorkflow(sfn(), process.env.DEPLOYMENT_STATE_MACHINE_ARN ?? 'unbound')).heartbeat(token),
};

export const signedDecisions = makeSignedDecisions({ directory, statements: lazyPort(() => dynamoStatementStore(dynamo(), tableName('directory'))) });

export const deployments = makeDeployments({
  directory,
  releases: dynamoReleaseStore(dynamo(), tableName('deployments')),
  deployments: deploymentStore,
  workflow,
  signed: signedDecisions,
  act,
  audit,
  clock,
  ids: randomIds,
});

export const links = dynamoApprovalLinks(dynamo(), tableName('deployments'));

export const approvalNotices = () =>
  makeApprovalNotices({
    directory,
    audit,
    deployments: deploymentStore,
    links,
    mailer: sesMailer(ses(), requireMailConfig('MAIL_FROM')),
    clock,
    publicUrl: requireMailConfig('PUBLIC_API_URL'),
  });

function requireMailConfig(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`Missing environment variable ${name}: the function is not bound to mail`);
  return value;
}
