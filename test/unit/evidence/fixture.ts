import { createHash, randomBytes } from 'node:crypto';
import { generateRawKeyPair, signManifest, type RawKeyPair } from '#shared/crypto/index.ts';
import { releasePayloadContext } from '#shared/domain/deploys/contexts.ts';
import { intentHash, signApproval, signIntent, type ApprovalStatement, type DeploymentEvidence, type DeploymentIntent } from '#shared/protocol/deployment-evidence.ts';
import { signStatement, type ApplicationStatement, type EnvironmentStatement, type PersonStatement } from '#shared/protocol/statements.ts';
import { toB64 } from '#shared/protocol/trust.ts';

const hex = () => randomBytes(16).toString('hex');
export const T = Date.parse('2026-12-07T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * An account as the evidence sees it: the owner key, an owner, a deployer (who pushed and
 * deploys), two approvers and an outsider, each with a key the owner vouched for; a secure
 * application, an environment needing one signed approval of the two approvers, a release
 * manifest, the deployer's intent and one approval. `evidence()` assembles it; every part can be
 * replaced to make it wrong in exactly one way.
 */
export const evidenceFixture = (
  options: {
    owner?: RawKeyPair;
    ids?: { accountId: string; appId: string; releaseId: string; environmentId: string; deploymentId: string };
    /** The deployer's key, when a test signed the manifest with it. */
    deployerKey?: RawKeyPair;
    manifest?: Buffer;
    now?: number;
  } = {},
) => {
  const owner = options.owner ?? generateRawKeyPair('ed25519');
  const ids = options.ids ?? { accountId: `acc_${hex()}`, appId: `app_${hex()}`, releaseId: `rel_${hex()}`, environmentId: `env_${hex()}`, deploymentId: `dep_${hex()}` };
  const { accountId } = ids;
  const now = options.now ?? T;
  const keys: Record<string, RawKeyPair> = {};
  const person = (name: string, role: PersonStatement['role'], extra: Partial<PersonStatement> = {}, key = generateRawKeyPair('ed25519')): PersonStatement => {
    const userId = `usr_${hex()}`;
    keys[userId] = key;
    return { v: 1, kind: 'person', accountId, userId, name, email: `${name.toLowerCase()}@example.com`, role, status: 'active', signingKey: toB64(keys[userId]!.publicKey), version: 1, issuedAt: iso(T - 3600_000), ...extra };
  };
  const people = {
    owner: person('Olive', 'owner'),
    deployer: person('Dan', 'deployer', {}, options.deployerKey),
    approver: person('Ann', 'approver'),
    approver2: person('Abe', 'approver'),
    outsider: person('Otto', 'approver'),
  };
  const application: ApplicationStatement = { v: 1, kind: 'application', accountId, appId: ids.appId, name: 'web', secure: true, version: 2, issuedAt: iso(T - 3600_000) };
  const environment: EnvironmentStatement = {
    v: 1,
    kind: 'environment',
    accountId,
    environmentId: ids.environmentId,
    name: 'prod',
    version: 3,
    issuedAt: iso(T - 3600_000),
    deployers: { roles: ['owner', 'deployer'], people: [] },
    approval: { required: true, approvers: [people.approver.userId, people.approver2.userId], count: 1, preventSelfApproval: true, ownerMayApprove: true, windowHours: 72, signed: true },
    variables: { SECRET_FILE: 'secret.cred.prod' },
    reportScriptOutput: false,
  };
  const manifest =
    options.manifest ??
    signManifest(
      { context: releasePayloadContext(ids), segmentSize: 65536, plaintextSize: 100, ciphertextSize: 200, headerHash: Buffer.alloc(32, 1), fileDigest: Buffer.alloc(32, 2) },
      keys[people.deployer.userId]!,
    );
  const intent: DeploymentIntent = {
    v: 1,
    ...ids,
    manifestHash: createHash('sha256').update(manifest).digest('hex'),
    environmentVersion: 3,
    deployerId: people.deployer.userId,
    createdAt: iso(now - 60_000),
    expiresAt: iso(now + 3600_000),
  };
  const approval = (by: PersonStatement, extra: Partial<ApprovalStatement> = {}, forIntent = intent) =>
    signApproval(keys[by.userId]!.privateKey, { v: 1, accountId, deploymentId: ids.deploymentId, intentHash: intentHash(forIntent), decision: 'approve-and-deploy', approverId: by.userId, at: iso(now - 30_000), ...extra });
  const sign = <S extends Parameters<typeof signStatement>[1]>(s: S, key = owner.privateKey) => signStatement(key, s);
  const evidence = (parts: Partial<DeploymentEvidence> = {}): DeploymentEvidence => ({
    application: sign(application),
    environment: sign(environment),
    people: Object.values(people).map((p) => sign(p)),
    intent: signIntent(keys[people.deployer.userId]!.privateKey, intent),
    approvals: [approval(people.approver)],
    ...parts,
  });
  const expect = { ...ids, manifest, encrypted: true };
  return { owner, ids, keys, people, application, environment, intent, manifest, approval, sign, evidence, expect, now };
};
