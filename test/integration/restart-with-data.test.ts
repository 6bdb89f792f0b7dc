import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedEmails, linkIn } from '../../local/demo/mail.ts';
import type { Caller } from '../support/accounts.ts';
import { enrolAgent, registerOwnerKey } from '../support/agents.ts';
import { submitForm } from '../support/approval-mail.ts';
import { waitFor } from '../support/clients.ts';
import type { ApiResponse } from '../support/http.ts';
import { startOwnStack, type OwnStack } from '../support/own-stack.ts';
import { plainManifestOf } from '../support/pushers.ts';
import { vouchedPerson } from '../support/statements.ts';

/**
 * Issue #11, a fault: the local stack restarted with --data in the middle of pending approvals.
 * This file runs its own stack processes, one after another on one data directory and each on
 * new free ports (the shared stack of the other files is not used). Persistence is write-through
 * (DynamoDB files, one record per execution, each S3 object before its upload is acknowledged),
 * so a SIGKILL loses nothing either; only captured mail is not kept (real mail was sent).
 */

// LATCHKEY_STACK_LOG=file keeps the stacks' own logs, as for the shared stack.
const startStack = (dataDir: string) =>
  startOwnStack({ dataDir, env: { POWERTOOLS_LOG_LEVEL: 'ERROR' }, ...(process.env.LATCHKEY_STACK_LOG ? { logPath: process.env.LATCHKEY_STACK_LOG } : {}) });

let dataDir: string;
let stack: OwnStack;
/** When each restarted stack started serving, so a resumed wait can be told from a fresh one. */
const restarts: number[] = [];

const restart = async (signal: 'SIGTERM' | 'SIGKILL') => {
  const before = stack.endpoints.api;
  await stack.stop(signal);
  stack = await startStack(dataDir);
  restarts.push(stack.startedAt);
  expect(stack.endpoints.api).not.toBe(before);
};

/** Calls the API of whichever stack is running now. */
const as =
  (token?: string): Caller =>
  async (method, route, json) => {
    const response = await fetch(stack.endpoints.api + route, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    const text = await response.text();
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : undefined } satisfies ApiResponse;
  };

const expectStatus = (response: ApiResponse, status: number) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  return response.body;
};

const clients = () => {
  const base = { region: stack.endpoints.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  return {
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({ ...base, endpoint: stack.endpoints.dynamodb })),
    s3: new S3Client({ ...base, endpoint: stack.endpoints.s3, forcePathStyle: true }),
    sqs: new SQSClient({ ...base, endpoint: stack.endpoints.sqs }),
    sfn: new SFNClient({ ...base, endpoint: stack.endpoints.stepFunctions }),
  };
};

/** The deployment item as stored, with the task token its workflow parked. */
const storedDeployment = async (accountId: string, deploymentId: string) => {
  const { Item } = await clients().dynamo.send(
    new GetCommand({ TableName: stack.env.DEPLOYMENTS_TABLE!, Key: { pk: `ACCOUNT#${accountId}`, sk: `DEPLOYMENT#${deploymentId}` }, ConsistentRead: true }),
  );
  return Item as { state: string; taskToken?: string; taskStage?: string; expiresAt: string } | undefined;
};

const parked = (accountId: string, deploymentId: string, stage: 'approval' | 'deploy', notToken?: string) =>
  waitFor(`${deploymentId} to park a ${stage} token`, async () => {
    const item = await storedDeployment(accountId, deploymentId);
    return item?.taskToken && item.taskStage === stage && item.taskToken !== notToken ? item.taskToken : undefined;
  }, 30_000);

const execution = async (deploymentId: string) =>
  clients().sfn.send(new DescribeExecutionCommand({ executionArn: `${stack.env.DEPLOYMENT_STATE_MACHINE_ARN!.replace(':stateMachine:', ':execution:')}:${deploymentId}` }));

/** The agent's queue as the stack that runs now has it, and as the agent item names it. */
const agentQueue = async (accountId: string, agentId: string) => {
  const { QueueUrl } = await clients().sqs.send(new GetQueueUrlCommand({ QueueName: `${stack.env.AGENT_QUEUE_PREFIX}${agentId}` }));
  const { Item } = await clients().dynamo.send(
    new GetCommand({ TableName: stack.env.DIRECTORY_TABLE!, Key: { pk: `ACCOUNT#${accountId}`, sk: `AGENT#${agentId}` }, ConsistentRead: true }),
  );
  return { queueUrl: QueueUrl, stored: Item?.queueUrl as string | undefined };
};

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const downloadRelease = async (objectKey: string) => {
  const object = await clients().s3.send(new GetObjectCommand({ Bucket: stack.env.RELEASES_BUCKET!, Key: objectKey }));
  return sha256(await object.Body!.transformToByteArray());
};

// Bigger than a part, so the upload is multipart and the kept object goes back in parts too.
const RELEASE_BYTES = 9 * 1024 * 1024 + 123;
// Long enough to outlast the two restarts (about 20 s from the deployment on CI), short enough to
// wait for; a fresh window after a restart would end this long after it, well past the 10 s the
// last test allows. If a very busy machine ends it during or between the restarts, the last test
// still holds: it then ends at once on the restart that finds it passed, or at its deadline.
const SHORT_WINDOW_SECONDS = 40;

// One story: the tests run in order on the same data directory.
describe('the local stack restarted with --data in the middle of pending approvals', () => {
  const s = {} as {
    accountId: string;
    owner: Caller;
    approverEmail: string;
    objectKey: string;
    digest: string;
    /** Waits for approval with a 72-hour window: approved through its emailed link after a restart. */
    approved: string;
    linkPath: string;
    /** Waits for approval with a window of SHORT_WINDOW_SECONDS: expires across the restarts. */
    expiring: string;
    deployToken: string;
    agent: { agentId: string; queueUrl: string };
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'latchkey-restart-'));
    stack = await startStack(dataDir);

    // Prepare: an owner, an approver in a group, two approval-gated environments, an app with
    // a release pushed through its presigned multipart upload, and a deployment to each.
    const suffix = randomUUID().slice(0, 8);
    const account = expectStatus(
      await as()('POST', '/accounts', { accountName: `Restart ${suffix}`, owner: { name: 'Olive Owner', email: `owner-${suffix}@example.com` } }),
      201,
    );
    s.accountId = account.accountId;
    s.owner = as(account.token.secret);
    s.approverEmail = `approver-${suffix}@example.com`;
    const approver = expectStatus(await s.owner('POST', '/users', { name: 'Ada Approver', email: s.approverEmail, role: 'approver' }), 201);
    const group = expectStatus(await s.owner('POST', '/groups', { name: 'approvers' }), 201);
    expect((await s.owner('PUT', `/groups/${group.groupId}/members/${approver.userId}`)).status).toBeLessThan(300);
    const environment = async (name: string, windowHours: number) =>
      expectStatus(
        await s.owner('POST', '/environments', {
          name,
          // Opted out of signed approvals: the point is the emailed link surviving a restart.
          approval: { enabled: true, approverGroups: [group.groupId], requiredApprovals: 1, preventSelfApproval: true, windowHours, signed: false },
          variables: {},
        }),
        201,
      );
    const prod = await environment('prod', 72);
    const staging = await environment('staging', SHORT_WINDOW_SECONDS / 3600);

    // The owner signs the release with the owner key, vouched in their person statement.
    const ownerKey = await registerOwnerKey(s.owner);
    await vouchedPerson(s.owner, ownerKey, s.accountId, expectStatus(await s.owner('GET', '/me'), 200).user, ownerKey);
    const app = expectStatus(await s.owner('POST', '/apps', { name: 'web' }), 201);
    const bytes = randomBytes(RELEASE_BYTES);
    s.digest = sha256(bytes);
    const created = expectStatus(await s.owner('POST', `/apps/${app.appId}/releases`, { version: '1.0.0', size: bytes.length }), 201);
    expect(created.upload.type).toBe('multipart');
    const parts = [];
    for (const part of created.upload.parts as { partNumber: number; url: string }[]) {
      const offset = (part.partNumber - 1) * created.upload.partSize;
      const uploaded = await fetch(part.url, { method: 'PUT', body: bytes.subarray(offset, offset + created.upload.partSize) });
      expect(uploaded.status).toBe(200);
      parts.push({ partNumber: part.partNumber, etag: uploaded.headers.get('etag')! });
    }
    const manifest = plainManifestOf({ accountId: s.accountId, appId: app.appId, releaseId: created.releaseId }, bytes, ownerKey);
    const release = expectStatus(await s.owner('POST', `/apps/${app.appId}/releases/${created.releaseId}/complete`, { digest: s.digest, manifest, parts }), 200);
    expect(release.state).toBe('ready');
    s.objectKey = `accounts/${s.accountId}/apps/${app.appId}/releases/${created.releaseId}`;

    const deploy = async (environmentId: string) =>
      expectStatus(await s.owner('POST', '/deployments', { appId: app.appId, releaseId: created.releaseId, environmentId }), 201).deploymentId as string;
    s.agent = await enrolAgent(s.owner, ownerKey, 'keyserver', [], as());
    s.approved = await deploy(prod.environmentId);
    s.expiring = await deploy(staging.environmentId);

    // Both workflows are waiting (their tokens parked) and the approval mail went out.
    await parked(s.accountId, s.approved, 'approval');
    await parked(s.accountId, s.expiring, 'approval');
    const mail = await waitFor('the approval mail', async () => {
      const mails = await capturedEmails(stack.endpoints.sesStore);
      return mails.find((m) => m.destination.to.includes(s.approverEmail) && m.subject.endsWith(' to prod'));
    }, 30_000);
    // The link carries the port of this stack; its path is the secret.
    s.linkPath = new URL(linkIn(mail.body.text).url).pathname;
  }, 180_000);

  afterAll(async () => {
    if (stack) await stack.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('after a SIGTERM restart on new ports, the approval link works exactly once and the deployment becomes Approved', { timeout: 120_000 }, async () => {
    await restart('SIGTERM');
    expect(await storedDeployment(s.accountId, s.approved)).toMatchObject({ state: 'PendingApproval' });
    expect((await execution(s.approved)).status).toBe('RUNNING');

    const link = new URL(s.linkPath, stack.endpoints.api).toString();
    const approved = await submitForm(link, { action: 'approve', message: 'after a restart' });
    expect(approved.status, approved.html).toBe(200);
    expect(approved.html).toContain('You approved this deployment');
    const again = await submitForm(link, { action: 'approve', message: '' });
    expect(again.status).toBe(409);
    expect(again.html).toContain('This link has already been used');

    expect(expectStatus(await s.owner('GET', `/deployments/${s.approved}`), 200).state).toBe('Approved');
    // The resumed workflow heard the decision: it now waits for the deploy action.
    s.deployToken = await parked(s.accountId, s.approved, 'deploy');
    expect(await downloadRelease(s.objectKey)).toBe(s.digest);
    expect(expectStatus(await s.owner('GET', '/audit/verify'), 200)).toMatchObject({ valid: true });
  });

  it('the enrolled agent has its queue again, and its stored queue URL names the SQS of the new ports', async () => {
    const { queueUrl, stored } = await agentQueue(s.accountId, s.agent.agentId);
    expect(queueUrl).toBeDefined();
    expect(stored).toBe(queueUrl);
    expect(new URL(queueUrl!).port).toBe(new URL(stack.endpoints.sqs).port);
    expect(new URL(s.agent.queueUrl).port).not.toBe(new URL(stack.endpoints.sqs).port);
  });

  it('after a SIGKILL restart, nothing acknowledged is lost: the approval stands, the workflow waits again, the release downloads', { timeout: 120_000 }, async () => {
    await restart('SIGKILL');
    expect(expectStatus(await s.owner('GET', `/deployments/${s.approved}`), 200).state).toBe('Approved');
    expect((await execution(s.approved)).status).toBe('RUNNING');
    // The resumed run parks a new token for the same wait; the old one died with the process.
    await parked(s.accountId, s.approved, 'deploy', s.deployToken);
    expect(await downloadRelease(s.objectKey)).toBe(s.digest);
    const queue = await agentQueue(s.accountId, s.agent.agentId);
    expect(queue.stored).toBe(queue.queueUrl);
    expect(expectStatus(await s.owner('GET', '/audit/verify'), 200)).toMatchObject({ valid: true });
  });

  it('a resumed approval wait times out at the original expiry, not a fresh window after the restart', { timeout: (SHORT_WINDOW_SECONDS + 60) * 1000 }, async () => {
    const { expiresAt } = (await storedDeployment(s.accountId, s.expiring))!;
    const ended = await waitFor('the short-window workflow to end', async () => {
      const described = await execution(s.expiring);
      return described.status === 'RUNNING' ? undefined : described;
    }, (SHORT_WINDOW_SECONDS + 30) * 1000);
    expect(ended.status).toBe('SUCCEEDED');
    expect(expectStatus(await s.owner('GET', `/deployments/${s.expiring}`), 200).state).toBe('Expired');
    expect((await storedDeployment(s.accountId, s.expiring))?.state).toBe('Expired');

    // It ended at its deadline, or at once on the restart that found the deadline passed; a
    // fresh window would have ended SHORT_WINDOW_SECONDS after the last restart before it.
    const stoppedAt = ended.stopDate!.getTime();
    // (A stack is known to be up a moment after it resumed its executions.)
    const resumedBefore = restarts.filter((at) => at <= stoppedAt + 5_000);
    expect(resumedBefore.length, 'the earlier tests of this story restart the stack').toBeGreaterThan(0);
    const resumedAt = Math.max(...resumedBefore);
    expect(stoppedAt).toBeGreaterThanOrEqual(Date.parse(expiresAt));
    expect(stoppedAt).toBeLessThan(resumedAt + SHORT_WINDOW_SECONDS * 1000);
    expect(stoppedAt).toBeLessThan(Math.max(Date.parse(expiresAt), resumedAt) + 10_000);
  });
});
