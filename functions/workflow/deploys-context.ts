import { makeDeploys } from '#shared/domain/deploys/deploys.ts';
import { makeEvidenceOf } from '#shared/domain/deploys/evidence-of.ts';
import { systemClock } from '#shared/ports/clock.ts';
import { SQSClient } from '@aws-sdk/client-sqs';
import { dynamo, s3, s3Sdk, sfn } from '../adapters/aws-clients.ts';
import { dynamoReleaseStore } from '../adapters/dynamo-release-store.ts';
import { dynamoStatementStore } from '../adapters/dynamo-statement-store.ts';
import { s3ReleaseObjects } from '../adapters/s3-release-objects.ts';
import { sfnWorkflow } from '../adapters/sfn-workflow.ts';
import { sqsAgentQueues } from '../adapters/sqs-agent-queues.ts';
import { agentStore } from '../api/directory-context.ts';
import { keyStore, masterKeys } from '../agents-context.ts';
import { bucketName, tableName } from '../config.ts';
import { audit, deploymentStore, directory } from '../deployments-context.ts';
import { lazyPort } from '../lazy-port.ts';
import { dynamoDeployRuns, dynamoDeploymentKeys } from './dynamo-deploy-runs.ts';

// The composition root of the deploy step: the workflow tasks and the reply consumer share it.
// Ports are built on first use, so each function needs only the bindings of what it calls.
const seconds = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number of seconds`);
  return value;
};

const sqs = new SQSClient({ useQueueUrlAsEndpoint: false });

export const deploys = makeDeploys({
  deployments: deploymentStore,
  directory,
  releases: lazyPort(() => dynamoReleaseStore(dynamo(), tableName('deployments'))),
  agents: agentStore,
  keys: keyStore,
  masterKeys,
  queues: lazyPort(() => sqsAgentQueues(sqs, process.env.AGENT_QUEUE_PREFIX ?? '')),
  objects: lazyPort(() => s3ReleaseObjects(s3(), bucketName('releases'), s3Sdk())),
  runs: lazyPort(() => dynamoDeployRuns(dynamo(), tableName('deployments'))),
  deploymentKeys: lazyPort(() => dynamoDeploymentKeys(dynamo(), tableName('wrappedKeys'))),
  // Answering a task token needs no state machine ARN, only the permission.
  workflow: lazyPort(() => sfnWorkflow(sfn(), 'not-needed-to-respond')),
  evidence: makeEvidenceOf({ statements: lazyPort(() => dynamoStatementStore(dynamo(), tableName('directory'))), directory }),
  audit,
  clock: systemClock,
  settings: {
    /** How long one key server gets to answer the grant request before the next is asked. */
    grantTimeoutSeconds: seconds('DEPLOY_GRANT_TIMEOUT_SECONDS', 30),
    /** How long a key server has to acknowledge the grant request, and between acknowledgements while it works. */
    ackTimeoutSeconds: seconds('AGENT_ACK_SECONDS', 5),
    /** How long targets get to report, all together. */
    targetTimeoutSeconds: seconds('DEPLOY_TARGET_TIMEOUT_SECONDS', 900),
  },
});
