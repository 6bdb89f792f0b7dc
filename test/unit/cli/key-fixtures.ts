import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { generateRawKeyPair, signManifest } from '#shared/crypto/index.ts';
import { releasePayloadContext } from '#shared/domain/deploys/contexts.ts';
import { signStatement, type Statement } from '#shared/protocol/statements.ts';
import { agentIdFor, keyFingerprint, signBinding, signEnrolment, toB64 } from '#shared/protocol/trust.ts';
import { hex, iso } from './fake-api.ts';

export type KeyPair = { privateKey: Buffer; publicKey: Buffer };

/** An owner key file as `latchkey signup` leaves it, for tests that start after signup. */
export const writeOwnerKey = async (configDir: string, accountId: string, pair: KeyPair = generateRawKeyPair('ed25519')) => {
  const file = path.join(configDir, `owner-key.${accountId}.json`);
  const content = { v: 1, kind: 'owner', accountId, publicKey: toB64(pair.publicKey), privateKey: toB64(pair.privateKey), createdAt: iso };
  await writeFile(file, JSON.stringify(content), { mode: 0o600 });
  return { ...pair, file, registered: { publicKey: toB64(pair.publicKey), fingerprint: keyFingerprint(pair.publicKey) } };
};

let enrolments = 100;

/**
 * An agent as GET /agents lists it, with a proof signed by `owner` (or by anyone, for a forgery)
 * and the owner's agent statement confirming it (unless `confirmed` is false).
 */
export const makeAgent = (
  owner: KeyPair,
  accountId: string,
  options: { name?: string; role?: 'keyserver' | 'target'; online?: boolean; masterVersions?: number[]; confirmed?: boolean } = {},
) => {
  const token = generateRawKeyPair('ed25519');
  const encryption = generateRawKeyPair('x25519');
  const signing = generateRawKeyPair('ed25519');
  const role = options.role ?? 'keyserver';
  const enrolmentId = `enr_${hex(enrolments++)}`;
  const agentId = agentIdFor(signing.publicKey);
  const statement = { v: 1 as const, accountId, enrolmentId, role, environments: [], expiresAt: '2099-01-01T00:00:00.000Z', tokenPublicKey: toB64(token.publicKey) };
  const binding = { v: 1 as const, accountId, enrolmentId, agentId, role, encryptionKey: toB64(encryption.publicKey), signingKey: toB64(signing.publicKey), enrolledAt: iso };
  const proof = {
    statement,
    ownerSignature: signEnrolment(owner.privateKey, statement),
    binding,
    tokenSignature: signBinding(token.privateKey, binding),
    agentSignature: signBinding(signing.privateKey, binding),
  };
  const confirmation = signStatement(owner.privateKey, {
    v: 1 as const,
    kind: 'agent' as const,
    accountId,
    agentId,
    role,
    environments: [],
    encryptionKey: binding.encryptionKey,
    signingKey: binding.signingKey,
    status: 'active' as const,
    version: 1,
    issuedAt: iso,
  });
  const view = {
    agentId,
    role,
    encryptionKey: binding.encryptionKey,
    signingKey: binding.signingKey,
    proof,
    ...(options.confirmed === false ? {} : { statement: confirmation }),
    ...(options.name ? { name: options.name } : {}),
    environments: [],
    enrolledAt: iso,
    lastSeenAt: iso,
    online: options.online ?? true,
    masterVersions: options.masterVersions ?? [1],
  };
  return { view, encryptionPrivateKey: encryption.privateKey };
};

/**
 * What a deployer's or an approver's CLI checks before it signs (cli/signed-decisions.ts), as an
 * account with the owner on this machine would have it: the owner key (here, in a config
 * directory of its own), the owner's signed statements, and releases whose manifests the owner
 * signed (the owner pushes them). `routes` answers GET /statements and GET of each release.
 */
export const signingWorld = async (me: { accountId: string; user: { userId: string; name: string; email: string } }, options: { environments: { environmentId: string; name: string; windowHours?: number }[] }) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-cli-world-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const owner = await writeOwnerKey(dir, me.accountId);
  const issuedAt = iso;
  const statements: Statement[] = [
    { v: 1, kind: 'person', accountId: me.accountId, userId: me.user.userId, name: me.user.name, email: me.user.email, role: 'owner', status: 'active', signingKey: toB64(owner.publicKey), version: 1, issuedAt },
    ...options.environments.map(
      (e): Statement => ({
        v: 1,
        kind: 'environment',
        accountId: me.accountId,
        environmentId: e.environmentId,
        name: e.name,
        version: 1,
        issuedAt,
        deployers: { roles: ['owner', 'deployer'], people: [] },
        approval: { required: true, approvers: [], count: 1, preventSelfApproval: true, ownerMayApprove: true, windowHours: e.windowHours ?? 72, signed: false },
        variables: {},
        reportScriptOutput: false,
      }),
    ),
  ];
  const manifestOf = (ids: { appId: string; releaseId: string }) =>
    toB64(signManifest({ context: releasePayloadContext({ accountId: me.accountId, ...ids }), segmentSize: 65536, plaintextSize: 10, ciphertextSize: 10, headerHash: Buffer.alloc(32, 1), fileDigest: Buffer.alloc(32, 2) }, owner));
  return {
    owner,
    env: { LATCHKEY_CONFIG: path.join(dir, 'config.json') },
    manifestOf,
    /** GET /statements and GET /apps/{id}/releases/{releaseId} for these releases, with their manifests. */
    routes: (releases: { appId: string; releaseId: string; version: string }[]) => ({
      'GET /me': () => ({ body: { ...me, ownerKey: owner.registered } }),
      'GET /statements': ({ query }: { query: Record<string, string> }) => ({
        body: { items: statements.filter((s) => !query.kind || s.kind === query.kind).map((s) => ({ ...signStatement(owner.privateKey, s), recordedAt: iso })) },
      }),
      ...Object.fromEntries(
        releases.map((r) => [
          `GET /apps/${r.appId}/releases/${r.releaseId}`,
          () => ({ body: { releaseId: r.releaseId, appId: r.appId, version: r.version, state: 'ready', encrypted: false, size: 10, createdBy: me.user.userId, createdAt: iso, manifest: manifestOf(r) } }),
        ]),
      ),
    }),
  };
};
