import { z } from 'zod';
import { createAccountInput, createAccountOutput, healthOutput } from '#shared/protocol/accounts.ts';
import { appId, enrolmentId, environmentId, groupId, pageQuery, page, tokenId, userId } from '#shared/protocol/common.ts';
import {
  app,
  auditEvent,
  auditVerification,
  createAppInput,
  createdToken,
  createEnvironmentInput,
  createGroupInput,
  createTokenInput,
  createUserInput,
  createdUser,
  environment,
  group,
  me,
  revokedToken,
  revokedTokens,
  token,
  updateAppInput,
  updateEnvironmentInput,
  user,
  userStatusInput,
  userWithStatus,
} from '#shared/protocol/directory.ts';
import { completeReleaseInput, createdRelease, createReleaseInput, release, releaseId, renewUploadInput, uploadPlan } from '#shared/protocol/releases.ts';
import {
  approvalForm,
  approvalLinkSecret,
  approveInput,
  createDeploymentInput,
  declineInput,
  deployment,
  deploymentId,
  listDeploymentsQuery,
  passkeyChallengeOutput,
  webAssetName,
} from '#shared/protocol/deployments.ts';
import { agentId } from '#shared/protocol/agent-messages.ts';
import { listStatementsQuery, recordedStatement, signedStatement } from '#shared/protocol/statements.ts';
import { vouchedSigningKey } from '#shared/protocol/signing-keys.ts';
import { passkeyLink, passkeyLinkSecret, registeredFingerprint, registeredPasskeys, registerPasskeyInput, registrationOptions } from '#shared/protocol/passkey-registration.ts';
import {
  agent,
  createEnrolmentInput,
  enrolAgentInput,
  enrolledAgent,
  enrolment,
  enrolmentSignatureInput,
  masterKeyStatus,
  ownerKey,
  ownerKeyInput,
  sealReleaseInput,
  session,
  sessionInput,
  signedEnrolment,
  signingKeyInput,
} from '#shared/protocol/agents.ts';
import type { FunctionName } from '../catalog.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type Route = {
  method: HttpMethod;
  /** API Gateway path syntax: `{id}` is a path parameter. */
  path: string;
  function: FunctionName;
  summary: string;
  /** `token`: a bearer API token is required. */
  auth: 'none' | 'token';
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  response: { status: number; schema?: z.ZodType; contentType?: string };
};

const idParam = <T extends z.ZodType>(schema: T) => z.strictObject({ id: schema });

/**
 * The one route table: CDK makes API Gateway routes of it, the local server serves it, and
 * GET /openapi.json is generated from its schemas — the same ones the handlers validate with.
 */
export const routes = [
  { method: 'GET', path: '/health', function: 'health', summary: 'Liveness', auth: 'none', response: { status: 200, schema: healthOutput } },
  { method: 'GET', path: '/openapi.json', function: 'openapi', summary: 'This API as OpenAPI 3.1', auth: 'none', response: { status: 200, contentType: 'application/json' } },
  {
    method: 'POST', path: '/accounts', function: 'create-account', summary: 'Create an account, its owner and the owner token (shown once)',
    auth: 'none', body: createAccountInput, response: { status: 201, schema: createAccountOutput },
  },
  { method: 'GET', path: '/me', function: 'get-me', summary: 'Who the token belongs to', auth: 'token', response: { status: 200, schema: me } },
  { method: 'POST', path: '/users', function: 'create-user', summary: 'Add a person to the account, with a first token (shown once) to hand to them', auth: 'token', body: createUserInput, response: { status: 201, schema: createdUser } },
  { method: 'GET', path: '/users', function: 'list-users', summary: 'People of the account', auth: 'token', query: pageQuery, response: { status: 200, schema: page(user) } },
  {
    method: 'POST', path: '/tokens', function: 'create-token', summary: 'Create a personal API token (its secret is shown once)',
    auth: 'token', body: createTokenInput, response: { status: 201, schema: createdToken },
  },
  { method: 'GET', path: '/tokens', function: 'list-tokens', summary: 'Your tokens (all tokens, for the owner)', auth: 'token', query: pageQuery, response: { status: 200, schema: page(token) } },
  {
    method: 'DELETE', path: '/tokens/{id}', function: 'revoke-token', summary: 'Revoke a token, and every token made with it',
    auth: 'token', params: idParam(tokenId), response: { status: 200, schema: revokedToken },
  },
  { method: 'POST', path: '/groups', function: 'create-group', summary: 'Create an approver group', auth: 'token', body: createGroupInput, response: { status: 201, schema: group } },
  { method: 'GET', path: '/groups', function: 'list-groups', summary: 'Approver groups', auth: 'token', query: pageQuery, response: { status: 200, schema: page(group) } },
  {
    method: 'PUT', path: '/groups/{id}/members/{userId}', function: 'add-group-member', summary: 'Add a person to a group',
    auth: 'token', params: z.strictObject({ id: groupId, userId }), response: { status: 200, schema: group },
  },
  {
    method: 'DELETE', path: '/groups/{id}/members/{userId}', function: 'remove-group-member', summary: 'Remove a person from a group',
    auth: 'token', params: z.strictObject({ id: groupId, userId }), response: { status: 200, schema: group },
  },
  {
    method: 'POST', path: '/environments', function: 'create-environment', summary: 'Create an environment with its approval policy and variables (approvals must be signed unless approval.signed is false)',
    auth: 'token', body: createEnvironmentInput, response: { status: 201, schema: environment },
  },
  { method: 'GET', path: '/environments', function: 'list-environments', summary: 'Environments', auth: 'token', query: pageQuery, response: { status: 200, schema: page(environment) } },
  {
    method: 'PATCH', path: '/environments/{id}', function: 'update-environment', summary: 'Change approval policy or variables',
    auth: 'token', params: idParam(environmentId), body: updateEnvironmentInput, response: { status: 200, schema: environment },
  },
  { method: 'POST', path: '/apps', function: 'create-app', summary: 'Create an application', auth: 'token', body: createAppInput, response: { status: 201, schema: app } },
  { method: 'GET', path: '/apps', function: 'list-apps', summary: 'Applications', auth: 'token', query: pageQuery, response: { status: 200, schema: page(app) } },
  {
    method: 'PATCH', path: '/apps/{id}', function: 'update-app', summary: 'Make an application secure (needs two online key servers)',
    auth: 'token', params: idParam(appId), body: updateAppInput, response: { status: 200, schema: app },
  },
  {
    method: 'POST', path: '/apps/{id}/releases', function: 'create-release', summary: 'Start a release: returns its id and a presigned upload URL',
    auth: 'token', params: idParam(appId), body: createReleaseInput, response: { status: 201, schema: createdRelease },
  },
  {
    method: 'POST', path: '/apps/{id}/releases/{releaseId}/complete', function: 'complete-release', summary: 'Finish a release once its upload is in place',
    auth: 'token', params: z.strictObject({ id: appId, releaseId }), body: completeReleaseInput, response: { status: 200, schema: release },
  },
  {
    method: 'POST', path: '/apps/{id}/releases/{releaseId}/upload', function: 'renew-release-upload', summary: 'Fresh upload URLs for the parts still to send (they expire after 15 minutes)',
    auth: 'token', params: z.strictObject({ id: appId, releaseId }), body: renewUploadInput, response: { status: 200, schema: uploadPlan },
  },
  {
    method: 'POST', path: '/apps/{id}/releases/{releaseId}/seal', function: 'seal-release', summary: 'Hand the release key, wrapped to one online key server, for re-wrapping under the master key',
    auth: 'token', params: z.strictObject({ id: appId, releaseId }), body: sealReleaseInput, response: { status: 202, schema: release },
  },
  {
    method: 'GET', path: '/apps/{id}/releases/{releaseId}', function: 'get-release', summary: 'One release',
    auth: 'token', params: z.strictObject({ id: appId, releaseId }), response: { status: 200, schema: release },
  },
  {
    method: 'GET', path: '/apps/{id}/releases', function: 'list-releases', summary: 'Releases of an application, newest first',
    auth: 'token', params: idParam(appId), query: pageQuery, response: { status: 200, schema: page(release) },
  },
  {
    method: 'POST', path: '/deployments', function: 'create-deployment', summary: 'Start a deployment of a release to an environment',
    auth: 'token', body: createDeploymentInput, response: { status: 201, schema: deployment },
  },
  {
    method: 'GET', path: '/deployments', function: 'list-deployments', summary: 'Deployments, newest first',
    auth: 'token', query: listDeploymentsQuery, response: { status: 200, schema: page(deployment) },
  },
  { method: 'GET', path: '/deployments/{id}', function: 'get-deployment', summary: 'One deployment, its votes and history', auth: 'token', params: idParam(deploymentId), response: { status: 200, schema: deployment } },
  {
    method: 'POST', path: '/deployments/{id}/approve', function: 'approve-deployment', summary: 'Approve, or with deploy: true approve and deploy',
    auth: 'token', params: idParam(deploymentId), body: approveInput, response: { status: 200, schema: deployment },
  },
  {
    method: 'POST', path: '/deployments/{id}/decline', function: 'decline-deployment', summary: 'Decline, with a message everyone will see',
    auth: 'token', params: idParam(deploymentId), body: declineInput, response: { status: 200, schema: deployment },
  },
  {
    method: 'POST', path: '/deployments/{id}/deploy', function: 'deploy-deployment', summary: 'Deploy an approved deployment',
    auth: 'token', params: idParam(deploymentId), response: { status: 200, schema: deployment },
  },
  {
    method: 'POST', path: '/deployments/{id}/cancel', function: 'cancel-deployment', summary: 'Cancel a deployment that is waiting',
    auth: 'token', params: idParam(deploymentId), response: { status: 200, schema: deployment },
  },
  {
    method: 'GET', path: '/approvals/{token}', function: 'approval-page', summary: 'The page behind an approval email link: shows the deployment, changes nothing',
    auth: 'none', params: z.strictObject({ token: approvalLinkSecret }), response: { status: 200, contentType: 'text/html' },
  },
  {
    method: 'POST', path: '/approvals/{token}', function: 'approval-action',
    summary: 'The form on that page: approve, approve-and-deploy or decline (with a message), as a form or, signed with a passkey, as JSON; the link works once',
    auth: 'none', params: z.strictObject({ token: approvalLinkSecret }), response: { status: 200, contentType: 'text/html' },
  },
  {
    method: 'POST', path: '/approvals/{token}/challenge', function: 'approval-challenge',
    summary: 'What the approver\'s passkey must sign for a decision through that link: the approval statement and WebAuthn options; changes nothing',
    auth: 'none', params: z.strictObject({ token: approvalLinkSecret }), body: approvalForm, response: { status: 200, schema: passkeyChallengeOutput },
  },
  {
    method: 'GET', path: '/assets/{name}', function: 'web-asset', summary: 'The scripts of our pages, served from our own origin',
    auth: 'none', params: z.strictObject({ name: webAssetName }), response: { status: 200, contentType: 'text/javascript' },
  },
  {
    method: 'PUT', path: '/account/owner-key', function: 'set-owner-key', summary: 'Register the public half of the owner key (once); agents pin it',
    auth: 'token', body: ownerKeyInput, response: { status: 200, schema: ownerKey },
  },
  {
    method: 'PUT', path: '/me/signing-key', function: 'set-signing-key', summary: 'Register your release-signing public key (once)',
    auth: 'token', body: signingKeyInput, response: { status: 200, schema: ownerKey },
  },
  {
    method: 'PUT', path: '/users/{id}/signing-key/vouch', function: 'vouch-signing-key', summary: 'The owner key’s statement for a person’s release-signing key; targets install only what a vouched key signed',
    auth: 'token', params: idParam(userId), body: vouchedSigningKey, response: { status: 200, schema: ownerKey },
  },
  {
    method: 'POST', path: '/enrolments', function: 'create-enrolment', summary: 'Create an agent enrolment for the owner to sign',
    auth: 'token', body: createEnrolmentInput, response: { status: 201, schema: enrolment },
  },
  {
    method: 'PUT', path: '/enrolments/{id}/signature', function: 'sign-enrolment', summary: 'The owner’s signature over the enrolment statement',
    auth: 'token', params: idParam(enrolmentId), body: enrolmentSignatureInput, response: { status: 200, schema: enrolment },
  },
  {
    method: 'GET', path: '/enrolments/{id}', function: 'get-enrolment', summary: 'A signed, unused enrolment, for the enrolling agent to check',
    auth: 'none', params: idParam(enrolmentId), response: { status: 200, schema: signedEnrolment },
  },
  {
    method: 'POST', path: '/agents', function: 'enrol-agent', summary: 'An agent registers its public keys with a signed enrolment (single use)',
    auth: 'none', body: enrolAgentInput, response: { status: 201, schema: enrolledAgent },
  },
  { method: 'GET', path: '/agents', function: 'list-agents', summary: 'Agents with their proofs, online state and master key versions', auth: 'token', query: pageQuery, response: { status: 200, schema: page(agent) } },
  {
    method: 'PUT', path: '/statements', function: 'put-statement', summary: 'Record a statement the owner key signed (person, environment, application, agent); a newer version per subject only',
    auth: 'token', body: signedStatement, response: { status: 200, schema: recordedStatement },
  },
  {
    method: 'GET', path: '/statements', function: 'list-statements', summary: 'The newest owner statement per subject, to check locally',
    auth: 'token', query: listStatementsQuery, response: { status: 200, schema: z.object({ items: z.array(recordedStatement) }) },
  },
  {
    method: 'GET', path: '/master-key', function: 'get-master-key', summary: 'The master key version new releases are sealed under, which key servers hold it, and which are still learning it',
    auth: 'token', response: { status: 200, schema: masterKeyStatus },
  },
  { method: 'DELETE', path: '/agents/{id}', function: 'remove-agent', summary: 'Remove an agent', auth: 'token', params: idParam(agentId), response: { status: 200, schema: agent } },
  {
    method: 'POST', path: '/agents/{id}/session', function: 'agent-session', summary: 'Signed challenge -> short-lived credentials for the agent’s queue and the reply queue',
    auth: 'none', params: idParam(agentId), body: sessionInput, response: { status: 200, schema: session },
  },
  { method: 'GET', path: '/audit', function: 'list-audit', summary: 'Audit events, oldest first', auth: 'token', query: pageQuery, response: { status: 200, schema: page(auditEvent) } },
  { method: 'GET', path: '/audit/verify', function: 'verify-audit', summary: 'Recompute the audit hash chain', auth: 'token', response: { status: 200, schema: auditVerification } },
  {
    method: 'PUT', path: '/users/{id}/status', function: 'set-user-status', summary: 'Disable, enable or remove a person: leaving active revokes every token of theirs; their approval links and pending votes stop counting',
    auth: 'token', params: idParam(userId), body: userStatusInput, response: { status: 200, schema: userWithStatus },
  },
  {
    method: 'DELETE', path: '/users/{id}/tokens', function: 'revoke-user-tokens', summary: 'Revoke every token of a person (and every token made with them)',
    auth: 'token', params: idParam(userId), response: { status: 200, schema: revokedTokens },
  },
  {
    method: 'POST', path: '/users/{id}/passkey-links', function: 'create-passkey-link', summary: 'Email a person a single-use link (valid 24 h) to register a passkey; the owner vouches for it after comparing its fingerprint',
    auth: 'token', params: idParam(userId), response: { status: 201, schema: passkeyLink },
  },
  {
    method: 'GET', path: '/users/{id}/passkeys', function: 'list-passkeys', summary: 'The passkeys a person registered (the owner’s person statement says which are vouched for)',
    auth: 'token', params: idParam(userId), response: { status: 200, schema: registeredPasskeys },
  },
  {
    method: 'GET', path: '/passkeys/{token}', function: 'passkey-page', summary: 'The page behind a passkey registration link: says whose passkey and what happens; changes nothing',
    auth: 'none', params: z.strictObject({ token: passkeyLinkSecret }), response: { status: 200, contentType: 'text/html' },
  },
  {
    method: 'POST', path: '/passkeys/{token}/options', function: 'passkey-options', summary: 'WebAuthn registration options for the link’s person (user verification required); only a response to the latest options registers',
    auth: 'none', params: z.strictObject({ token: passkeyLinkSecret }), response: { status: 200, schema: registrationOptions },
  },
  {
    method: 'POST', path: '/passkeys/{token}', function: 'register-passkey', summary: 'Register the passkey: verifies the WebAuthn response, records the credential and uses the link (once); answers its fingerprint',
    auth: 'none', params: z.strictObject({ token: passkeyLinkSecret }), body: registerPasskeyInput, response: { status: 200, schema: registeredFingerprint },
  },
] as const satisfies readonly Route[];

export const routeKey = (route: Pick<Route, 'method' | 'path'>) => `${route.method} ${route.path}`;
