import { createHash, randomBytes } from 'node:crypto';
import { decodeManifest, verifyManifest } from '#shared/crypto/manifest.ts';
import { keyId } from '#shared/crypto/raw-keys.ts';
import { SIGNATURE_BYTES } from '#shared/crypto/signatures.ts';
import { intentHash, intentSignatureVerifies, signApproval, signIntent, type Decision, type DeploymentIntent, type SignedApproval, type SignedIntent } from '#shared/protocol/deployment-evidence.ts';
import { pinKey, StatementError, verifyStatement, type StatementKind, type StatementOf } from '#shared/protocol/statements.ts';
import { fromB64, keyFingerprint, toB64 } from '#shared/protocol/trust.ts';
import type { ApiClient, ResponseOf } from './api-client.ts';
import type { Context } from './context.ts';
import { RefusedError } from './errors.ts';
import { ownerKeyPath, readKeyFile, signingKeyFromEnv, signingKeyPath, trustedOwnerKey, type Me, type StoredKey } from './keys.ts';
import type { Output } from './output.ts';
import { pinStatements, readStatementPins } from './statement-pins.ts';

/** Room past the approval window for the deployment itself to run (the backend allows a day). */
const INTENT_SLACK_MS = 12 * 3600_000;

type DeploymentView = ResponseOf<'GET /deployments/{id}'>;

/**
 * The owner's statements of one kind as this machine trusts them: each verified under the owner
 * key it pinned, none older than it saw before (then pinned). A statement that fails is refused
 * loudly: it is exactly what a compromised backend would show.
 */
export const trustedStatements = async <K extends StatementKind>(ctx: Context, client: ApiClient, me: Me, out: Output, kind: K): Promise<Map<string, StatementOf<K>>> => {
  const ownerKey = await trustedOwnerKey(ctx, me, out);
  const pins = await readStatementPins(ctx.configPath, me.accountId);
  const verified = new Map<string, StatementOf<K>>();
  for (const item of (await client.call('GET /statements', { query: { kind } })).items) {
    try {
      const s = verifyStatement(ownerKey, item, { kind, accountId: me.accountId });
      const seen = pins[pinKey(s)];
      if (seen !== undefined && s.version < seen) throw new StatementError('RolledBack', `version ${s.version} is older than version ${seen} seen before`);
      verified.set(pinKey(s).split(':')[1]!, s);
    } catch (error) {
      if (error instanceof StatementError) throw new RefusedError(`The backend shows a ${kind} statement the owner key does not back: ${error.message}; nothing was signed`);
      throw error;
    }
  }
  await pinStatements(ctx.configPath, me.accountId, [...verified.values()]);
  return verified;
};

/** The key this person signs intents and approvals with: the owner key for the owner, else their own signing key, when it is on this machine. */
const decisionKey = async (ctx: Context, me: Me): Promise<Required<StoredKey> | undefined> => {
  const fromEnv = me.user.role === 'owner' ? undefined : signingKeyFromEnv(ctx);
  if (fromEnv) return fromEnv;
  const file = me.user.role === 'owner' ? ownerKeyPath(ctx.configPath, me.accountId) : signingKeyPath(ctx.configPath, me.user.userId);
  const local = await readKeyFile(file);
  return local?.privateKey ? (local as Required<StoredKey>) : undefined;
};

/**
 * The deployer's intent (docs/trust.md): this release, by the hash of its signed manifest, to this
 * environment under the statement version this machine verified, until the approval window and a
 * few hours more have passed; the deployment id is chosen here.
 */
export const signDeploymentIntent = async (
  ctx: Context,
  client: ApiClient,
  me: Me,
  out: Output,
  ids: { appId: string; releaseId: string; environmentId: string },
): Promise<SignedIntent> => {
  const key = await decisionKey(ctx, me);
  if (!key) {
    throw new RefusedError('Your signing key is not on this machine: deployments are signed by their deployer', {
      hint: 'Deploy from the machine that holds it (`latchkey keys show` there), or copy that file here (mode 0600); in CI set LATCHKEY_SIGNING_KEY to its "privateKey".',
    });
  }
  const release = await client.call('GET /apps/{id}/releases/{releaseId}', { params: { id: ids.appId, releaseId: ids.releaseId } });
  if (!release.manifest) throw new RefusedError(`Release ${release.version} has no signed manifest: it cannot be deployed`);
  const environment = (await trustedStatements(ctx, client, me, out, 'environment')).get(ids.environmentId);
  if (!environment) throw new RefusedError('The environment has no statement signed by the owner: key servers and targets would refuse the deployment', { hint: 'The owner runs `latchkey envs sign ENV`.' });
  const now = Date.now();
  const intent: DeploymentIntent = {
    v: 1,
    accountId: me.accountId,
    deploymentId: `dep_${randomBytes(16).toString('hex')}`,
    ...ids,
    manifestHash: createHash('sha256').update(fromB64(release.manifest)).digest('hex'),
    environmentVersion: environment.version,
    deployerId: me.user.userId,
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + environment.approval.windowHours * 3600_000 + INTENT_SLACK_MS).toISOString(),
  };
  return signIntent(key.privateKey, intent);
};

/** What an approver is shown before signing, every fact checked here, none taken on the backend's word. */
export type CheckedFacts = { lines: string[]; intentHash: string };

/**
 * Checks a deployment's intent before an approver signs anything (DESIGN §10: "The approver sees
 * what they sign"): the deployer's signature under the key the owner vouched for, the release's
 * manifest under its pusher's vouched key and against the intent's hash; then the facts to show.
 */
export const checkDeploymentFacts = async (ctx: Context, client: ApiClient, me: Me, out: Output, d: DeploymentView): Promise<CheckedFacts> => {
  if (!d.intent) throw new RefusedError(`Deployment ${d.deploymentId} has no intent signed by its deployer: there is nothing to approve with a signature`);
  const { intent } = d.intent;
  if (intent.deploymentId !== d.deploymentId || intent.appId !== d.appId || intent.releaseId !== d.releaseId || intent.environmentId !== d.environmentId) {
    throw new RefusedError(`Deployment ${d.deploymentId} is shown with an intent for another deployment: nothing was signed`);
  }
  const people = await trustedStatements(ctx, client, me, out, 'person');
  const deployer = people.get(intent.deployerId);
  if (!deployer?.signingKey || deployer.status !== 'active' || !intentSignatureVerifies(fromB64(deployer.signingKey), d.intent)) {
    throw new RefusedError(`The intent of ${d.deploymentId} is not signed by an active person the owner vouched for: nothing was signed`);
  }
  const release = await client.call('GET /apps/{id}/releases/{releaseId}', { params: { id: d.appId, releaseId: d.releaseId } });
  if (!release.manifest || createHash('sha256').update(fromB64(release.manifest)).digest('hex') !== intent.manifestHash) {
    throw new RefusedError(`The release shown for ${d.deploymentId} is not the one its deployer signed for: nothing was signed`);
  }
  const manifest = fromB64(release.manifest);
  let signerId: Buffer;
  try {
    signerId = decodeManifest(manifest.subarray(0, manifest.byteLength - SIGNATURE_BYTES)).signerKeyId;
  } catch {
    throw new RefusedError(`The manifest of release ${release.version} cannot be read: nothing was signed`);
  }
  const pusher = [...people.values()].find((p) => p.signingKey && keyId(fromB64(p.signingKey)).equals(signerId));
  if (!pusher?.signingKey) throw new RefusedError(`Release ${release.version} is signed by a key the owner vouched for in no statement: nothing was signed`);
  let digest: string;
  try {
    digest = verifyManifest(manifest, fromB64(pusher.signingKey)).fileDigest.toString('hex');
  } catch {
    throw new RefusedError(`The manifest of release ${release.version} does not verify under ${pusher.name}'s key: nothing was signed`);
  }
  const hash = intentHash(intent);
  return {
    intentHash: hash,
    lines: [
      `application   ${d.appName} (${d.appId})`,
      `release       ${d.releaseVersion} (${d.releaseId})`,
      `signed by     ${pusher.name} <${pusher.email}>, key ${keyFingerprint(fromB64(pusher.signingKey))}`,
      `digest        ${digest}`,
      `environment   ${d.environmentName} (${d.environmentId}), statement version ${intent.environmentVersion}`,
      `deployer      ${deployer.name} <${deployer.email}>`,
      `deployment    ${d.deploymentId} (intent ${hash})`,
    ],
  };
};

/**
 * The approver's signed decision on the deployment's intent, after checking and showing its facts;
 * undefined when this person has no signing key here (then only an environment that does not
 * require signed approvals takes the vote, and the backend says so).
 */
export const signDecision = async (ctx: Context, client: ApiClient, me: Me, out: Output, d: DeploymentView, decision: Decision, message?: string): Promise<SignedApproval | undefined> => {
  if (!d.intent) return undefined;
  const key = await decisionKey(ctx, me);
  if (!key) return undefined;
  const self = (await trustedStatements(ctx, client, me, out, 'person')).get(me.user.userId);
  if (self?.signingKey !== toB64(key.publicKey)) {
    out.note('Note: the owner has not vouched for your signing key yet, so this vote is not signed (environments that require signed approvals refuse it).');
    return undefined;
  }
  const facts = await checkDeploymentFacts(ctx, client, me, out, d);
  out.note([`Signing "${decision}" on:`, ...facts.lines.map((line) => `  ${line}`)].join('\n'));
  return signApproval(key.privateKey, {
    v: 1,
    accountId: me.accountId,
    deploymentId: d.deploymentId,
    intentHash: facts.intentHash,
    decision,
    approverId: me.user.userId,
    at: new Date().toISOString(),
    ...(message ? { message } : {}),
  });
};
