import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { plainManifest, releaseContext } from '#cli/commands/push.ts';
import { generateRawKeyPair, signManifest } from '#shared/crypto/index.ts';
import { signStatement } from '#shared/protocol/statements.ts';
import { toB64 } from '#shared/protocol/trust.ts';
import { apiClient, expectStatus } from './api-client.ts';

export type ApprovalFixture = Awaited<ReturnType<typeof approvalFixture>>;

/**
 * What a deployment with approvals needs, made through the API: an account, a deployer, approvers
 * in the approver group of an environment that requires `requiredApprovals`, and a ready release
 * of a non-secure application (the deploy step then needs no key server). Returns tokens, so the
 * measurement uses a client of its own and the setup requests stay out of its numbers.
 */
export const approvalFixture = async (apiUrl: string, { approvers, requiredApprovals }: { approvers: number; requiredApprovals: number }) => {
  const setup = apiClient(apiUrl);
  const suffix = randomUUID().slice(0, 8);
  const account = expectStatus(
    await setup.as()('POST', '/accounts', { accountName: `Bench ${suffix}`, owner: { name: 'Olive Owner', email: `owner-${suffix}@example.com` } }),
    201,
    'create the account',
  );
  const owner = setup.as(account.token.secret);
  const person = async (role: 'deployer' | 'approver', n: number) => {
    const email = `${role}${n}-${suffix}@example.com`;
    const user = expectStatus(await owner('POST', '/users', { name: `${role} ${n}`, email, role }), 201, `add ${role} ${n}`);
    return { userId: user.userId as string, email, token: user.firstToken.secret as string };
  };
  const deployer = await person('deployer', 1);
  const approverList = [];
  for (let n = 1; n <= approvers; n += 1) approverList.push(await person('approver', n));
  const group = expectStatus(await owner('POST', '/groups', { name: 'approvers' }), 201, 'create the approver group');
  for (const approver of approverList) {
    const added = await owner('PUT', `/groups/${group.groupId}/members/${approver.userId}`);
    if (added.status >= 300) throw new Error(`add an approver to the group: ${added.status} ${JSON.stringify(added.body)}`);
  }
  const environment = expectStatus(
    await owner('POST', '/environments', {
      name: `prod-${suffix}`,
      // Opted out of signed approvals: the bench measures the API's approve, which the approvers
      // call with their tokens and no signature (the backend's record).
      approval: { enabled: true, approverGroups: [group.groupId], requiredApprovals, preventSelfApproval: true, windowHours: 72, signed: false },
      variables: {},
    }),
    201,
    'create the environment',
  );
  // The owner pushes, signing with the owner key, vouched in their person statement (as the CLI does).
  const ownerKey = generateRawKeyPair('ed25519');
  expectStatus(await owner('PUT', '/account/owner-key', { publicKey: toB64(ownerKey.publicKey) }), 200, 'register the owner key');
  const me = expectStatus(await owner('GET', '/me'), 200, 'read the owner').user;
  const statement = { v: 1, kind: 'person', accountId: account.accountId, userId: me.userId, name: me.name, email: me.email, role: 'owner', status: 'active', signingKey: toB64(ownerKey.publicKey), version: 1, issuedAt: new Date().toISOString() } as const;
  expectStatus(await owner('PUT', '/statements', signStatement(ownerKey.privateKey, statement)), 200, 'record the owner’s person statement');
  const app = expectStatus(await owner('POST', '/apps', { name: `web-${suffix}` }), 201, 'create the application');
  const bytes = randomBytes(1024);
  const created = expectStatus(await owner('POST', `/apps/${app.appId}/releases`, { version: '1.0.0', size: bytes.length }), 201, 'create the release');
  const uploaded = await fetch(created.upload.url, { method: 'PUT', body: bytes });
  if (!uploaded.ok) throw new Error(`upload the release: ${uploaded.status}`);
  const ids = { accountId: account.accountId as string, appId: app.appId as string, releaseId: created.releaseId as string };
  const manifest = signManifest(plainManifest(releaseContext(ids), bytes.length, createHash('sha256').update(bytes).digest()), ownerKey).toString('base64url');
  expectStatus(await owner('POST', `/apps/${app.appId}/releases/${created.releaseId}/complete`, { manifest }), 200, 'complete the release');
  return {
    ownerToken: account.token.secret as string,
    deployer,
    approvers: approverList,
    /** The body of `POST /deployments` for this fixture's release and environment. */
    deployment: { appId: app.appId as string, releaseId: created.releaseId as string, environmentId: environment.environmentId as string },
  };
};
