import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { as as asToken } from './accounts.ts';
import { expect } from 'vitest';
import type { DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { localClients, waitFor } from './clients.ts';
import { newAccount, type Caller } from './accounts.ts';
import { answeringTarget } from './deploy-targets.ts';
import { registerOwnerKey } from './agents.ts';
import { generateRawKeyPair, signManifest } from '#shared/crypto/index.ts';
import { signingKeyStatementOf, vouchForSigningKey } from '#shared/protocol/signing-keys.ts';
import { toB64 } from '#shared/protocol/trust.ts';
import { plainManifest, releaseContext } from '#cli/commands/push.ts';
import { applicationStatement, environmentStatement, intentFor, recordStatement, vouchedPerson } from './statements.ts';

export type Account = Awaited<ReturnType<typeof newAccount>>;

/** A pusher's signing key, registered with the owner's statement for it (docs/signing-keys.md). */
export interface Signer {
  accountId: string;
  keys: { publicKey: Uint8Array; privateKey: Uint8Array };
}

/** Registers a signing key for the person behind `call`, vouched for by the owner key. */
export const vouchedSigner = async (
  call: Caller,
  ids: { accountId: string; userId: string },
  ownerKey: { privateKey: Uint8Array },
  keys: { publicKey: Uint8Array; privateKey: Uint8Array } = generateRawKeyPair('ed25519'),
): Promise<Signer> => {
  const publicKey = toB64(keys.publicKey);
  const vouch = vouchForSigningKey(ownerKey.privateKey, signingKeyStatementOf(ids, publicKey, new Date().toISOString()));
  const registered = await call('PUT', '/me/signing-key', { publicKey, vouch });
  expect(registered.status, JSON.stringify(registered.body)).toBe(200);
  return { accountId: ids.accountId, keys };
};

/**
 * A ready (uploaded and completed) release of a new application; with `signer`, completed with a
 * signed manifest, as the CLI completes one (a deployment of an unsigned release fails its plan).
 */
export const readyRelease = async (call: Caller, appName: string | undefined, signer: Signer) => {
  appName ??= `web-${randomUUID().slice(0, 8)}`;
  const app = (await call('POST', '/apps', { name: appName })).body;
  const bytes = randomBytes(1024);
  const created = (await call('POST', `/apps/${app.appId}/releases`, { version: '1.0.0', size: bytes.length })).body;
  expect((await fetch(created.upload.url, { method: 'PUT', body: bytes })).status).toBe(200);
  const sha256 = createHash('sha256').update(bytes).digest();
  const ids = { accountId: signer.accountId, appId: app.appId as string, releaseId: created.releaseId as string };
  const manifest = signManifest(plainManifest(releaseContext(ids), bytes.length, sha256), signer.keys).toString('base64url');
  const completed = await call('POST', `/apps/${app.appId}/releases/${created.releaseId}/complete`, { digest: sha256.toString('hex'), manifest });
  expect(completed.status, JSON.stringify(completed.body)).toBe(200);
  return { app, release: completed.body };
};

/**
 * An account with an environment whose approvers are the account's approver plus `extra`
 * more people, and a ready release to deploy there.
 *
 * The environment does not require signed approvals unless `signedApprovals`: unlike the API's
 * default for a new environment (signed), it opts out explicitly, because the tests built on it
 * decide through the API without a signature and through the emailed links (the backend's record).
 */
export const approvalSetup = async (
  policy: { target?: boolean; enabled?: boolean; requiredApprovals?: number; preventSelfApproval?: boolean; windowHours?: number; variables?: Record<string, string>; extraApprovers?: number; signedApprovals?: boolean } = {},
) => {
  const a = await newAccount();
  const group = (await a.owner('POST', '/groups', { name: 'approvers' })).body;
  const extra = [];
  for (let i = 0; i < (policy.extraApprovers ?? 1); i += 1) {
    const user = (await a.owner('POST', '/users', { name: `Approver ${i + 2}`, email: `approver${i + 2}-${randomUUID().slice(0, 8)}@example.com`, role: 'approver' })).body;
    extra.push({ user, call: asToken(user.firstToken.secret) });
  }
  for (const member of [a.approver.user, a.deployer.user, ...extra.map((e) => e.user)]) {
    await a.owner('PUT', `/groups/${group.groupId}/members/${member.userId}`);
  }
  const environment = (
    await a.owner('POST', '/environments', {
      name: `prod-${randomUUID().slice(0, 8)}`,
      approval: {
        enabled: policy.enabled ?? true,
        approverGroups: [group.groupId],
        requiredApprovals: policy.requiredApprovals ?? 1,
        preventSelfApproval: policy.preventSelfApproval ?? true,
        windowHours: policy.windowHours ?? 72,
        signed: policy.signedApprovals ?? false,
      },
      variables: policy.variables ?? {},
    })
  ).body;
  // The owner key, as signup leaves it; deployments go somewhere: a target of the environment
  // that reports success (no target: they fail).
  const ownerKey = await registerOwnerKey(a.owner);
  const target = policy.target === false ? undefined : await answeringTarget(a.owner, environment.environmentId, ownerKey);
  // Pushed by the owner, signed with the owner key, as the CLI signs the owner's releases.
  // The owner's statements and each person's vouched key (test/support/statements.ts): what
  // `complete`, the deploy step and agents check against.
  const signer = await vouchedSigner(a.owner, { accountId: a.accountId, userId: a.ownerId }, ownerKey, ownerKey);
  const ownerUser = (await a.owner('GET', '/me')).body.user;
  await vouchedPerson(a.owner, ownerKey, a.accountId, ownerUser, signer.keys);
  const { app, release } = await readyRelease(a.owner, undefined, signer);
  const people = new Map<Caller, { userId: string; keys: { publicKey: Uint8Array; privateKey: Uint8Array } }>();
  people.set(a.owner, { userId: a.ownerId, keys: signer.keys });
  for (const [call, user] of [[a.deployer.call, a.deployer.user], [a.approver.call, a.approver.user], ...extra.map((e) => [e.call, e.user] as const)] as const) {
    people.set(call, { userId: user.userId, keys: await vouchedPerson(a.owner, ownerKey, a.accountId, user) });
  }
  const approvers = [a.approver.user, a.deployer.user, ...extra.map((e) => e.user)].map((u) => u.userId as string).sort();
  await recordStatement(a.owner, ownerKey, environmentStatement(a.accountId, environment, {
    required: environment.approval.enabled,
    approvers,
    count: environment.approval.requiredApprovals,
    preventSelfApproval: environment.approval.preventSelfApproval,
    windowHours: environment.approval.windowHours,
    signed: environment.approval.signed,
  }));
  await recordStatement(a.owner, ownerKey, applicationStatement(a.accountId, app));
  /** A deployment by `call`, with its signed intent where the owner vouched for its key. */
  const deploy = async (call: Caller = a.deployer.call) => {
    const person = people.get(call);
    const ids = { accountId: a.accountId, appId: app.appId, releaseId: release.releaseId, environmentId: environment.environmentId };
    const intent = person && release.manifest ? { intent: intentFor(person, ids, release.manifest, { windowHours: environment.approval.windowHours }) } : {};
    const response = await call('POST', '/deployments', { appId: app.appId, releaseId: release.releaseId, environmentId: environment.environmentId, ...intent });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return response.body;
  };
  return { a, group, extra, environment, app, release, deploy, target, people, ownerKey };
};

export const stateOf = async (call: Caller, deploymentId: string) => (await call('GET', `/deployments/${deploymentId}`)).body.state as string;

/** Polls the deployment until it reaches `state`. */
export const waitForState = (call: Caller, deploymentId: string, state: string, timeoutMs = 15_000) =>
  waitFor(`deployment ${deploymentId} to be ${state}`, async () => {
    const current = (await call('GET', `/deployments/${deploymentId}`)).body;
    return current.state === state ? current : undefined;
  }, timeoutMs);

/** Polls the workflow execution of a deployment (named after it) until it ends. */
export const executionEnded = (deploymentId: string) => {
  const { sfn, env } = localClients();
  const machine = env.DEPLOYMENT_STATE_MACHINE_ARN!;
  const executionArn = machine.replace(':stateMachine:', ':execution:') + `:${deploymentId}`;
  return waitFor<DescribeExecutionCommandOutput>(`the workflow of ${deploymentId} to end`, async () => {
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    return described.status === 'RUNNING' ? undefined : described;
  }, 15_000);
};
