import { createHash } from 'node:crypto';
import { decodeManifest, keyId, SIGNATURE_BYTES, verifyManifest, type ReleaseManifest } from '#shared/crypto/index.ts';
import { canonicalJson } from '#shared/protocol/canonical-json.ts';
import { approvalSignatureVerifies, intentHash, intentSignatureVerifies, type DeploymentEvidence } from '#shared/protocol/deployment-evidence.ts';
import {
  StatementError,
  pinKey,
  statementHash,
  verifyStatement,
  type EnvironmentStatement,
  type PersonStatement,
  type Statement,
  type StatementKind,
  type StatementPins,
} from '#shared/protocol/statements.ts';
import { fromB64 } from '#shared/protocol/trust.ts';
import { checkPasskeyApproval } from './passkey-approvals.ts';

/**
 * Whether a deployment may go ahead, decided by an agent from the evidence alone (DESIGN §10):
 * key servers run it before they grant, targets before they install. Pure: the owner key the
 * agent pinned, the pins it keeps, and the clock come in as arguments.
 *
 *   1. Every statement is the owner's, for this account and subject, and not older than pinned.
 *   2. The application statement: a secure application never gets a plain release.
 *   3. The intent: this deployment, application, release (by its manifest) and environment, not
 *      expired, signed by an active person the environment statement lets deploy.
 *   4. The manifest: signed by an active person whose key the owner vouched for.
 *   5. The approvals, when the environment requires them: N distinct eligible approvers (named by
 *      the newest environment statement; not the deployer where self-approval is prevented; the
 *      owner where the statement lets the owner approve), each deciding within the window on this
 *      intent — signed by them (with their vouched key, or with a passkey the owner vouched for,
 *      whose sign counter must grow), or, where the statement does not require signatures, the
 *      backend's record, which the verdict says. An eligible approver's signed decline refuses.
 */

export type EvidenceCode =
  | 'NotOwnerSigned'
  | 'RolledBack'
  | 'WrongAccount'
  | 'WrongSubject'
  | 'WrongKind'
  | 'Malformed'
  | 'PlainReleaseOfSecureApp'
  | 'IntentMismatch'
  | 'IntentExpired'
  | 'IntentNotSigned'
  | 'NotAllowedToDeploy'
  | 'UnknownPerson'
  | 'PersonNotActive'
  | 'PusherNotVouched'
  | 'NotEnoughApprovals'
  | 'Declined';

export class EvidenceRefused extends Error {
  constructor(
    readonly code: EvidenceCode,
    message: string,
  ) {
    super(message);
    this.name = 'EvidenceRefused';
  }
}

export type EvidenceExpectations = {
  accountId: string;
  deploymentId: string;
  appId: string;
  releaseId: string;
  environmentId: string;
  /** The signed release manifest the request carries. */
  manifest: Uint8Array;
  /** Whether the release is encrypted. */
  encrypted: boolean;
};

export type EvidenceVerdict = {
  /** Every statement checked, to pin (`pinned`). */
  statements: Statement[];
  environment: EnvironmentStatement;
  deployer: PersonStatement;
  pusher: PersonStatement;
  manifest: ReleaseManifest;
  /** How the approvals stand: signed by the approvers, the backend's word, or none needed. */
  approvals: 'signed' | 'backend' | 'none';
  approvers: string[];
  intentHash: string;
  /** What to remember of the passkeys used (sign counters, assertions seen), kept with the statement pins. */
  passkeyPins: Record<string, number>;
  /** Names the evidence as checked: key servers sign it into their grant, receipts name it. */
  evidenceHash: string;
};

/** Approvals later than a few minutes in the future of the checking clock are refused (clock skew). */
const SKEW_MS = 5 * 60_000;

export const checkEvidence = async (input: {
  ownerKey: Uint8Array;
  evidence: DeploymentEvidence;
  expect: EvidenceExpectations;
  pins: StatementPins;
  now: number;
}): Promise<EvidenceVerdict> => {
  const { ownerKey, evidence, expect, pins, now } = input;
  const refuse = (code: EvidenceCode, message: string): never => {
    throw new EvidenceRefused(code, message);
  };
  const verified = <K extends StatementKind>(kind: K, signed: { statement: unknown; signature: string }, subject?: string) => {
    try {
      const s = verifyStatement(ownerKey, signed, { kind, accountId: expect.accountId, ...(subject ? { subject } : {}) });
      const seen = pins[pinKey(s)];
      if (seen !== undefined && s.version < seen) throw new StatementError('RolledBack', `the ${kind} statement for ${subject ?? pinKey(s)} is version ${s.version}, older than version ${seen} already seen: a rolled-back decision is refused`);
      return s;
    } catch (error) {
      if (error instanceof StatementError) return refuse(error.code, error.message);
      throw error;
    }
  };

  // 1–2. The owner's statements.
  const application = verified('application', evidence.application, expect.appId);
  const environment = verified('environment', evidence.environment, expect.environmentId);
  const people = new Map<string, PersonStatement>();
  for (const signed of evidence.people) {
    const person = verified('person', signed);
    if (people.has(person.userId)) refuse('Malformed', `the evidence names person ${person.userId} twice`);
    people.set(person.userId, person);
  }
  if (application.secure && !expect.encrypted) refuse('PlainReleaseOfSecureApp', `application ${application.name} is secure (statement version ${application.version}): a plain release of it is refused`);
  const activePerson = (userId: string, as: string) => {
    const person = people.get(userId) ?? refuse('UnknownPerson', `the ${as} ${userId} has no statement from the owner in the evidence`);
    if (person.status !== 'active') refuse('PersonNotActive', `the ${as} ${person.name} (${userId}) is ${person.status}`);
    if (!person.signingKey) refuse('PersonNotActive', `the owner has not vouched for a key of the ${as} ${person.name} (${userId})`);
    return person;
  };

  // 3. The intent.
  const { intent } = evidence.intent;
  const mismatched = (['accountId', 'deploymentId', 'appId', 'releaseId', 'environmentId'] as const).find((field) => intent[field] !== expect[field]);
  if (mismatched) refuse('IntentMismatch', `the deployment intent names ${mismatched} ${intent[mismatched]}, not ${expect[mismatched]}`);
  if (intent.manifestHash !== createHash('sha256').update(expect.manifest).digest('hex')) refuse('IntentMismatch', 'the deployment intent names another release manifest');
  if (Date.parse(intent.expiresAt) <= now) refuse('IntentExpired', `the deployment intent expired at ${intent.expiresAt}`);
  if (intent.environmentVersion > environment.version) refuse('RolledBack', `the intent saw environment statement version ${intent.environmentVersion}; the evidence shows version ${environment.version}`);
  const deployer = activePerson(intent.deployerId, 'deployer');
  if (!intentSignatureVerifies(fromB64(deployer.signingKey!), evidence.intent)) refuse('IntentNotSigned', `the deployment intent is not signed by the deployer ${deployer.name} (${deployer.userId})`);
  const mayDeploy = environment.deployers.people.includes(deployer.userId) || (deployer.role !== 'approver' && environment.deployers.roles.includes(deployer.role));
  if (!mayDeploy) refuse('NotAllowedToDeploy', `${deployer.name} (${deployer.userId}) may not deploy to ${environment.name} (its statement version ${environment.version})`);

  // 4. The manifest's signer.
  const signerKeyId = (() => {
    try {
      return decodeManifest(expect.manifest.subarray(0, expect.manifest.byteLength - SIGNATURE_BYTES)).signerKeyId;
    } catch {
      return refuse('Malformed', 'the release manifest cannot be read');
    }
  })();
  const pusher = [...people.values()].find((p) => p.signingKey && keyId(fromB64(p.signingKey)).equals(signerKeyId)) ??
    refuse('PusherNotVouched', 'the release manifest is signed by a key the owner has vouched for in no statement of the evidence');
  activePerson(pusher.userId, 'pusher');
  if (pusher.role === 'approver') refuse('PusherNotVouched', `the release was signed by ${pusher.name}, an approver, who cannot push`);
  let manifest: ReleaseManifest;
  try {
    manifest = verifyManifest(expect.manifest, fromB64(pusher.signingKey!));
  } catch {
    return refuse('PusherNotVouched', `the release manifest does not verify under the key of ${pusher.name} (${pusher.userId})`);
  }

  // 5. The approvals.
  const hash = intentHash(intent);
  const policy = environment.approval;
  const deadline = Date.parse(intent.createdAt) + policy.windowHours * 3600_000;
  const eligible = (approverId: string): string | undefined => {
    const person = people.get(approverId);
    if (!person) return `${approverId} has no statement from the owner in the evidence`;
    if (person.status !== 'active') return `${person.name} is ${person.status}`;
    const named = policy.approvers.includes(approverId) || (person.role === 'owner' && policy.ownerMayApprove);
    if (!named) return `${person.name} is not an approver of ${environment.name}`;
    if (policy.preventSelfApproval && approverId === deployer.userId) return `${person.name} started the deployment`;
    return undefined;
  };
  let approvals: EvidenceVerdict['approvals'] = 'none';
  const counted = new Set<string>();
  const passkeyPins: Record<string, number> = {};
  if (policy.required) {
    const problems: string[] = [];
    // A signed approval counts wherever it verifies; where the statement does not require
    // signatures, the backend's record of the other votes counts too (and the verdict says so).
    for (const signed of evidence.approvals) {
      const a = signed.approval;
      const why =
        (a.accountId !== expect.accountId || a.deploymentId !== expect.deploymentId || a.intentHash !== hash ? 'it is for another deployment or intent' : undefined) ??
        eligible(a.approverId) ??
        (!approvalSignatureVerifies(fromB64(people.get(a.approverId)!.signingKey ?? ''), signed) ? 'its signature does not verify under the approver’s key' : undefined) ??
        (Date.parse(a.at) > deadline || Date.parse(a.at) > now + SKEW_MS ? 'it was made after the approval window' : undefined);
      if (why) {
        problems.push(`an approval by ${a.approverId}: ${why}`);
        continue;
      }
      if (a.decision === 'decline') refuse('Declined', `${people.get(a.approverId)!.name} declined the deployment${a.message ? `: ${a.message}` : ''}`);
      counted.add(a.approverId);
    }
    for (const item of evidence.passkeyApprovals ?? []) {
      const a = item.approval;
      const early =
        (a.accountId !== expect.accountId || a.deploymentId !== expect.deploymentId || a.intentHash !== hash ? 'it is for another deployment or intent' : undefined) ??
        eligible(a.approverId) ??
        (Date.parse(a.at) > deadline || Date.parse(a.at) > now + SKEW_MS ? 'it was made after the approval window' : undefined);
      const check = early ? { ok: false as const, why: early } : await checkPasskeyApproval(item, people.get(a.approverId)!, { ...pins, ...passkeyPins });
      if (!check.ok) {
        problems.push(`a passkey approval by ${a.approverId}: ${check.why}`);
        continue;
      }
      Object.assign(passkeyPins, check.pins);
      if (a.decision === 'decline') refuse('Declined', `${people.get(a.approverId)!.name} declined the deployment with a passkey${a.message ? `: ${a.message}` : ''}`);
      counted.add(a.approverId);
    }
    let onTheBackendsWord = 0;
    if (!policy.signed) {
      for (const a of evidence.backendApprovals ?? []) {
        const why = eligible(a.approverId);
        if (why) problems.push(`an approval by ${a.approverId}: ${why}`);
        else if (a.decision !== 'decline' && !counted.has(a.approverId)) {
          counted.add(a.approverId);
          onTheBackendsWord += 1;
        }
      }
    }
    approvals = onTheBackendsWord ? 'backend' : 'signed';
    if (counted.size < policy.count) {
      refuse(
        'NotEnoughApprovals',
        `${environment.name} needs ${policy.count} ${policy.signed ? 'signed ' : ''}approval${policy.count === 1 ? '' : 's'} (statement version ${environment.version}); the evidence has ${counted.size}${problems.length ? ` (not counted: ${problems.join('; ')})` : ''}`,
      );
    }
  }

  const statements: Statement[] = [application, environment, ...people.values()];
  const evidenceHash = createHash('sha256')
    .update(
      canonicalJson({
        application: statementHash(application),
        environment: statementHash(environment),
        people: [...people.values()].map(statementHash).sort(),
        intent: hash,
        approvals:
          approvals === 'signed'
            ? [...evidence.approvals.map((a) => a.signature), ...(evidence.passkeyApprovals ?? []).map((a) => a.assertion.response.signature)].sort()
            : approvals === 'backend'
              ? [...counted].sort()
              : [],
        trust: approvals,
      }),
    )
    .digest('hex');
  return { statements, environment, deployer, pusher, manifest, approvals, approvers: [...counted].sort(), intentHash: hash, passkeyPins, evidenceHash };
};
