import { GetObjectCommand } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { agentRecordOf } from '#shared/domain/agents/agents.ts';
import type { Agent } from '#shared/domain/agents/model.ts';
import type { Deployment } from '#shared/domain/deployments/model.ts';
import { targetRequestId } from '#shared/domain/deploys/deploys.ts';
import { makeEvidenceOf } from '#shared/domain/deploys/evidence-of.ts';
import type { Release } from '#shared/domain/releases/model.ts';
import type { AgentRecord, AgentRequest } from '#shared/protocol/agent-messages.ts';
import type { DeploymentEvidence } from '#shared/protocol/deployment-evidence.ts';
import type { SignedStatement, StatementKind, StatementOf } from '#shared/protocol/statements.ts';
import { newRequestId } from './agents.ts';
import { localClients, waitFor } from './clients.ts';

/**
 * What a compromised backend does in the attack tests (test/integration/compromised-backend/):
 * it reads and writes the emulators' DynamoDB directly, never through the API.
 */
const { dynamo, env, s3, sqs, sfn } = localClients();
const account = (accountId: string) => `ACCOUNT#${accountId}`;

/** One item of the directory table in the account's partition (AGENT#…, STATEMENT#…, ENROLMENT#…), as stored. */
export const directoryItem = async (accountId: string, sk: string) =>
  (await dynamo.send(new GetCommand({ TableName: env.DIRECTORY_TABLE!, Key: { pk: account(accountId), sk }, ConsistentRead: true }))).Item;

/** Puts an item back exactly as it was read (a rollback). */
export const putDirectoryItem = (item: Record<string, unknown>) => dynamo.send(new PutCommand({ TableName: env.DIRECTORY_TABLE!, Item: item }));

/** Sets attributes of a directory item (and removes others). */
export const updateDirectoryItem = (accountId: string, sk: string, set: Record<string, unknown>, remove: string[] = []) => {
  const names = Object.fromEntries([...Object.keys(set), ...remove].map((name, i) => [`#a${i}`, name]));
  const alias = (name: string) => Object.entries(names).find(([, n]) => n === name)![0];
  const sets = Object.keys(set).map((name, i) => `${alias(name)} = :v${i}`);
  const expression = [sets.length ? `SET ${sets.join(', ')}` : '', remove.length ? `REMOVE ${remove.map(alias).join(', ')}` : ''].filter(Boolean).join(' ');
  return dynamo.send(
    new UpdateCommand({
      TableName: env.DIRECTORY_TABLE!,
      Key: { pk: account(accountId), sk },
      UpdateExpression: expression,
      ExpressionAttributeNames: names,
      ...(sets.length ? { ExpressionAttributeValues: Object.fromEntries(Object.values(set).map((value, i) => [`:v${i}`, value])) } : {}),
      ConditionExpression: 'attribute_exists(pk)',
    }),
  );
};

/** The master key copies the backend holds for an agent (the wrapped-keys table). */
export const masterCopiesFor = async (accountId: string, agentId: string) =>
  (
    (
      await dynamo.send(
        new QueryCommand({
          TableName: env.WRAPPED_KEYS_TABLE!,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': account(accountId), ':prefix': 'MASTER#' },
          ConsistentRead: true,
        }),
      )
    ).Items ?? []
  ).filter((item) => item.agentId === agentId) as { version: number; agentId: string; wrappedMaster: string; wrappedBy: string }[];

// ---- what a compromised backend sends agents, bypassing its own functions ----
//
// The backend's own functions check a deployment's evidence as agents will before they ask any
// agent (shared/domain/deploys/evidence-of.ts): a backend that wants an agent to act on what its
// functions would refuse writes the agent's queue itself. These build the requests it would
// send from what the tables hold, and record them as the functions do, so that the agents'
// signed replies are taken by the (unmodified) reply consumer and reach the deployment.

/** One item of the deployments table in the account's partition (DEPLOYMENT#…, RELEASE#…), as stored. */
export const deploymentsItem = async (accountId: string, sk: string) =>
  (await dynamo.send(new GetCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: { pk: account(accountId), sk }, ConsistentRead: true }))).Item;

export const putDeploymentsItem = (item: Record<string, unknown>) => dynamo.send(new PutCommand({ TableName: env.DEPLOYMENTS_TABLE!, Item: item }));

/** The owner statement the backend holds for a subject (STATEMENT#kind#subject), as agents are sent it. */
export const statementOf = async <K extends StatementKind>(accountId: string, kind: K, subject: string): Promise<SignedStatement<K> | undefined> => {
  const item = await directoryItem(accountId, `STATEMENT#${kind}#${subject}`);
  return item ? { statement: item.statement as StatementOf<K>, signature: item.signature as string } : undefined;
};

/** A deployment's evidence as the backend builds it (the functions' own builder, over the tables as they stand). */
export const evidenceOf = async (deployment: Record<string, unknown>, release: Record<string, unknown>): Promise<DeploymentEvidence> => {
  const builder = makeEvidenceOf({
    statements: { get: async (accountId, kind, subject) => ({ ...(await statementOf(accountId, kind, subject))!, recordedAt: '' }) as never },
    directory: { getAccount: async () => undefined },
  });
  const built = await builder.build(deployment as unknown as Deployment, release as unknown as Release);
  if ('missing' in built) throw new Error(`no evidence: ${built.missing}`);
  return built.evidence;
};

/** A fresh URL for a release object, presigned as the backend presigns them for targets. */
export const presignedGet = (objectKey: string) => getSignedUrl(s3, new GetObjectCommand({ Bucket: env.RELEASES_BUCKET!, Key: objectKey }), { expiresIn: 900 });

export type DeployReleaseRequest = Extract<AgentRequest, { type: 'deploy-release' }>;
export type GrantRequest = Extract<AgentRequest, { type: 'issue-deployment-grant' }>;

/** A deployment and its release, as the deployments table holds them. */
const deploymentWithRelease = async (accountId: string, deploymentId: string) => {
  const deployment = (await deploymentsItem(accountId, `DEPLOYMENT#${deploymentId}`))!;
  const release = (await deploymentsItem(accountId, `RELEASE#${deployment.releaseId}`))!;
  return { deployment, release };
};

/**
 * The plain `deploy-release` request the backend would dispatch to a target for a deployment, built
 * from the tables (the deployment, its release, the owner's statements), good for 15 minutes.
 */
export const deployReleaseRequest = async (accountId: string, deploymentId: string, agentId: string): Promise<DeployReleaseRequest> => {
  const { deployment, release } = await deploymentWithRelease(accountId, deploymentId);
  const now = Date.now();
  return {
    type: 'deploy-release',
    requestId: targetRequestId(deploymentId, agentId),
    accountId,
    sentAt: new Date(now).toISOString(),
    deploymentId,
    appId: deployment.appId,
    releaseId: deployment.releaseId,
    environmentId: deployment.environmentId,
    appName: deployment.appName,
    releaseVersion: deployment.releaseVersion,
    environmentName: deployment.environmentName,
    url: await presignedGet(release.objectKey as string),
    digest: release.digest as string,
    manifest: release.manifest as string,
    evidence: await evidenceOf(deployment, release),
    expiresAt: new Date(now + 900_000).toISOString(),
  };
};

/** The agent as the backend presents it to its peers (the domain's agentRecordOf, on the stored item). */
const agentRecord = async (accountId: string, agentId: string): Promise<AgentRecord> => agentRecordOf((await directoryItem(accountId, `AGENT#${agentId}`)) as Agent);


/**
 * The `issue-deployment-grant` request the backend would send key server `keyServerId` for a
 * secure deployment, naming `targets`: its copy of the release's master key version, the release
 * key under it, the manifest and the evidence, as the tables hold them.
 */
export const grantRequest = async (accountId: string, deploymentId: string, keyServerId: string, targets: string[]): Promise<GrantRequest> => {
  const { deployment, release } = await deploymentWithRelease(accountId, deploymentId);
  const wrapKey = async (sk: string) =>
    (await dynamo.send(new GetCommand({ TableName: env.WRAPPED_KEYS_TABLE!, Key: { pk: account(accountId), sk }, ConsistentRead: true }))).Item!;
  const releaseKey = await wrapKey(`RELEASE#${deployment.releaseId}`);
  const version = releaseKey.version as number;
  const copy = await wrapKey(`MASTER#${String(version).padStart(10, '0')}#${keyServerId}`);
  const now = Date.now();
  return {
    type: 'issue-deployment-grant',
    requestId: newRequestId(),
    accountId,
    sentAt: new Date(now).toISOString(),
    deploymentId,
    appId: deployment.appId,
    releaseId: deployment.releaseId,
    environmentId: deployment.environmentId,
    version,
    wrappedMaster: copy.wrappedMaster,
    masterCommitment: copy.commitment,
    masterWrapSignature: copy.signature,
    masterWrapper: await agentRecord(accountId, copy.wrappedBy as string),
    wrappedReleaseKey: releaseKey.wrappedReleaseKey,
    manifest: release.manifest as string,
    evidence: await evidenceOf(deployment, release),
    targets: await Promise.all(targets.map((agentId) => agentRecord(accountId, agentId))),
    expiresAt: new Date(now + 900_000).toISOString(),
  };
};

/**
 * Puts `request` on the agent's own queue, recorded as the deploy step records what it sends
 * (REQUEST# in the directory, DEPLOYREQ# in the deployments table), so the agent's signed reply is
 * taken by the reply consumer and kept on the deployment, as any reply is.
 */
export const sendToAgent = async (accountId: string, agentId: string, request: DeployReleaseRequest | GrantRequest) => {
  const agent = (await directoryItem(accountId, `AGENT#${agentId}`))!;
  const grant = request.type === 'issue-deployment-grant';
  await dynamo.send(
    new PutCommand({
      TableName: env.DEPLOYMENTS_TABLE!,
      Item: { pk: account(accountId), sk: `DEPLOYREQ#${request.requestId}`, kind: 'deploy-request', deploymentId: request.deploymentId, agentId, ...(grant ? { purpose: 'grant' } : {}) },
    }),
  );
  await dynamo.send(
    new PutCommand({
      TableName: env.DIRECTORY_TABLE!,
      Item: {
        pk: account(accountId),
        sk: `REQUEST#${request.requestId}`,
        kind: 'agent-request',
        accountId,
        requestId: request.requestId,
        type: 'deploy',
        agentId,
        ...(grant ? { recipients: request.targets.map((t) => t.agentId), version: request.version } : { version: 0 }),
        releaseId: request.releaseId,
        state: 'pending',
        createdAt: request.sentAt,
      },
    }),
  );
  await sqs.send(new SendMessageCommand({ QueueUrl: agent.queueUrl as string, MessageBody: JSON.stringify(request) }));
};

/**
 * Takes the first request on an agent's queue that `pick` chooses (the agent must not be running):
 * the backend holds it, and can send it again, changed or not, whenever it likes.
 */
export const takeFromQueue = async (accountId: string, agentId: string, pick: (request: AgentRequest) => boolean, timeoutMs = 60_000) => {
  const agent = (await directoryItem(accountId, `AGENT#${agentId}`))!;
  const QueueUrl = agent.queueUrl as string;
  return waitFor(
    `a request on ${agentId}'s queue`,
    async () => {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30 }));
      for (const message of Messages) {
        const request = JSON.parse(message.Body!) as AgentRequest;
        if (!pick(request)) continue;
        await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: message.ReceiptHandle! }));
        return request;
      }
      return undefined;
    },
    timeoutMs,
  );
};

/** Starts a run of the deployment state machine with the input the backend chooses. */
export const startWorkflow = (input: { accountId: string; deploymentId: string; approvalRequired: boolean; approvalWindowSeconds: number }, name: string) =>
  sfn.send(new StartExecutionCommand({ stateMachineArn: env.DEPLOYMENT_STATE_MACHINE_ARN!, name, input: JSON.stringify(input) }));

/** Puts a request on an agent's queue as it is, recording nothing (a copy of one sent before). */
export const requeue = async (accountId: string, agentId: string, request: AgentRequest) => {
  const agent = (await directoryItem(accountId, `AGENT#${agentId}`))!;
  await sqs.send(new SendMessageCommand({ QueueUrl: agent.queueUrl as string, MessageBody: JSON.stringify(request) }));
};

/** A passkey registration link's item (PASSKEYLINK#<sha256 of the secret>), as stored; once used it holds the registered credential. */
export const passkeyLinkItem = async (secretHash: string) =>
  (await dynamo.send(new GetCommand({ TableName: env.DIRECTORY_TABLE!, Key: { pk: `PASSKEYLINK#${secretHash}`, sk: 'PASSKEYLINK' }, ConsistentRead: true }))).Item;

/** Rewrites a passkey link's item: its expiry, or the credential registered through it (a swapped key). */
export const updatePasskeyLinkItem = (secretHash: string, set: Record<string, unknown>) =>
  dynamo.send(
    new UpdateCommand({
      TableName: env.DIRECTORY_TABLE!,
      Key: { pk: `PASSKEYLINK#${secretHash}`, sk: 'PASSKEYLINK' },
      UpdateExpression: `SET ${Object.keys(set).map((_name, i) => `#a${i} = :v${i}`).join(', ')}`,
      ExpressionAttributeNames: Object.fromEntries(Object.keys(set).map((name, i) => [`#a${i}`, name])),
      ExpressionAttributeValues: Object.fromEntries(Object.values(set).map((value, i) => [`:v${i}`, value])),
      ConditionExpression: 'attribute_exists(pk)',
    }),
  );
