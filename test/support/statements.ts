import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { signIntent, type SignedIntent } from '#shared/protocol/deployment-evidence.ts';
import { signStatement, type Statement } from '#shared/protocol/statements.ts';
import { toB64 } from '#shared/protocol/trust.ts';
import type { Caller } from './accounts.ts';

type KeyPair = { publicKey: Uint8Array; privateKey: Uint8Array };

/**
 * The owner's statements and a deployer's intent as the CLI makes them (cli/owner-statements.ts,
 * cli/signed-decisions.ts), for tests that drive the API directly: key servers and targets act only
 * on deployments that carry them, and the deploy step checks them first.
 */
export const recordStatement = async (owner: Caller, ownerKey: { privateKey: Uint8Array }, statement: Statement) => {
  const recorded = await owner('PUT', '/statements', signStatement(ownerKey.privateKey, statement));
  expect(recorded.status, JSON.stringify(recorded.body)).toBe(200);
};

export const personStatement = (accountId: string, user: { userId: string; name: string; email: string; role: 'owner' | 'deployer' | 'approver' }, signingKey: Uint8Array | undefined, version = 1): Statement => ({
  v: 1,
  kind: 'person',
  accountId,
  userId: user.userId,
  name: user.name,
  email: user.email,
  role: user.role,
  status: 'active',
  ...(signingKey ? { signingKey: toB64(signingKey) } : {}),
  version,
  issuedAt: new Date().toISOString(),
});

export const environmentStatement = (
  accountId: string,
  environment: { environmentId: string; name: string; variables?: Record<string, string>; reportScriptOutput?: boolean },
  // `signed` as the environment has it: no default here, so no test takes one without saying so.
  approval: { required: boolean; approvers: string[]; count: number; preventSelfApproval: boolean; windowHours: number; signed: boolean },
  version = 1,
): Statement => ({
  v: 1,
  kind: 'environment',
  accountId,
  environmentId: environment.environmentId,
  name: environment.name,
  version,
  issuedAt: new Date().toISOString(),
  deployers: { roles: ['owner', 'deployer'], people: [] },
  approval: { ...approval, ownerMayApprove: true },
  variables: environment.variables ?? {},
  reportScriptOutput: environment.reportScriptOutput ?? false,
});

export const applicationStatement = (accountId: string, app: { appId: string; name: string; secure: boolean }, version = 1): Statement => ({
  v: 1,
  kind: 'application',
  accountId,
  appId: app.appId,
  name: app.name,
  secure: app.secure,
  version,
  issuedAt: new Date().toISOString(),
});

/** A person's signing key, vouched for in their person statement. */
export const vouchedPerson = async (owner: Caller, ownerKey: { privateKey: Uint8Array }, accountId: string, user: Parameters<typeof personStatement>[1], keys: KeyPair = generateRawKeyPair('ed25519')) => {
  await recordStatement(owner, ownerKey, personStatement(accountId, user, keys.publicKey));
  return keys;
};

/** The deployer's signed intent for a deployment of `release` (its signed manifest) to an environment. */
export const intentFor = (
  deployer: { userId: string; keys: KeyPair },
  ids: { accountId: string; appId: string; releaseId: string; environmentId: string },
  manifest: string,
  options: { environmentVersion?: number; windowHours?: number } = {},
): SignedIntent => {
  const now = Date.now();
  return signIntent(deployer.keys.privateKey, {
    v: 1,
    ...ids,
    deploymentId: `dep_${randomBytes(16).toString('hex')}`,
    manifestHash: createHash('sha256').update(Buffer.from(manifest, 'base64url')).digest('hex'),
    environmentVersion: options.environmentVersion ?? 1,
    deployerId: deployer.userId,
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + (options.windowHours ?? 72) * 3600_000 + 3600_000).toISOString(),
  });
};
