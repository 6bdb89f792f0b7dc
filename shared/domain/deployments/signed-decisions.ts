import { createHash } from 'node:crypto';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { StatementStore } from '#shared/ports/statement-store.ts';
import { approvalSignatureVerifies, intentHash, intentSignatureVerifies, type ApprovalStatement, type Decision, type PasskeyApproval, type SignedApproval, type SignedIntent } from '#shared/protocol/deployment-evidence.ts';
import { checkPasskeyApproval } from '../evidence/passkey-approvals.ts';
import { verifyStatement } from '#shared/protocol/statements.ts';
import { fromB64 } from '#shared/protocol/trust.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import type { Deployment } from './model.ts';

/** The longest an intent may be good for beyond the approval window: time to run the deployment. */
export const INTENT_GRACE_MS = 24 * 3600_000;

type Deps = { directory: Pick<DirectoryStore, 'getAccount'>; statements: Pick<StatementStore, 'get'> };

/**
 * The backend checks what it can of a signed intent or approval before it keeps it (docs/trust.md):
 * key servers and targets check it all again, but a bad signature is the caller's mistake to hear
 * about now, not at the end of an approval window. The key is the one the owner vouched for in the
 * person's newest statement, verified here under the account's owner key.
 */
export const makeSignedDecisions = ({ directory, statements }: Deps) => {
  /** The person's newest statement, verified under the account's owner key, if they are active in it. */
  const activePerson = async (accountId: string, userId: string) => {
    const [account, stored] = await Promise.all([directory.getAccount(accountId), statements.get(accountId, 'person', userId)]);
    if (!account?.ownerKey || !stored) return undefined;
    try {
      const person = verifyStatement(fromB64(account.ownerKey.publicKey), stored, { kind: 'person', accountId, subject: userId });
      return person.status === 'active' ? person : undefined;
    } catch {
      return undefined;
    }
  };

  const vouchedKey = async (accountId: string, userId: string, field: string) => {
    const person = await activePerson(accountId, userId);
    if (!person?.signingKey) throw new ConflictError(`The account owner has not vouched for a signing key of yours in a person statement: ${field} cannot be checked`);
    return fromB64(person.signingKey);
  };

  /** What every signed decision must name: this deployment, its intent, this approver and the decision asked for. */
  const checkStatement = (approval: ApprovalStatement, deployment: Deployment, expected: { userId: string; decision: Decision }) => {
    const wrong = (what: string) => new ValidationError(`approval: ${what}`, 'approval');
    if (!deployment.intent) throw new ConflictError('This deployment has no signed intent: there is nothing to sign an approval for');
    if (approval.accountId !== deployment.accountId || approval.deploymentId !== deployment.deploymentId) throw wrong('it is for another deployment');
    if (approval.approverId !== expected.userId) throw wrong('it names another approver than you');
    if (approval.intentHash !== intentHash(deployment.intent.intent)) throw wrong('it signs another intent than this deployment’s');
    if (approval.decision !== expected.decision) throw wrong(`it says ${approval.decision}, not ${expected.decision}`);
    return wrong;
  };

  return {
    /** A deployer's intent for what they asked to deploy: the same ids, their key, this release's manifest, a bounded expiry. */
    checkIntent: async (signed: SignedIntent, expected: { accountId: string; userId: string; appId: string; releaseId: string; environmentId: string; manifest?: string | undefined; windowHours: number }, now: Date) => {
      const { intent } = signed;
      const wrong = (what: string) => new ValidationError(`intent: ${what}`, 'intent');
      for (const field of ['accountId', 'appId', 'releaseId', 'environmentId'] as const) {
        if (intent[field] !== expected[field]) throw wrong(`it names ${field} ${intent[field]}, not ${expected[field]}`);
      }
      if (intent.deployerId !== expected.userId) throw wrong('it names another deployer than you');
      if (!expected.manifest) throw new ConflictError('The release has no signed manifest: a deployment of it cannot be signed for');
      if (intent.manifestHash !== createHash('sha256').update(fromB64(expected.manifest)).digest('hex')) throw wrong('it names another release manifest');
      const expires = Date.parse(intent.expiresAt);
      if (expires <= now.getTime() || expires - now.getTime() > expected.windowHours * 3600_000 + INTENT_GRACE_MS) {
        throw wrong(`it expires at ${intent.expiresAt}: not within the approval window and a day from now`);
      }
      if (!intentSignatureVerifies(await vouchedKey(expected.accountId, expected.userId, 'the intent'), signed)) throw wrong('it is not signed with your key the owner vouched for');
    },

    /** An approver's signed decision on this deployment's intent, matching the decision asked for. */
    checkApproval: async (signed: SignedApproval, deployment: Deployment, expected: { userId: string; decision: Decision }) => {
      const wrong = checkStatement(signed.approval, deployment, expected);
      if (!approvalSignatureVerifies(await vouchedKey(deployment.accountId, expected.userId, 'the approval'), signed)) throw wrong('it is not signed with your key the owner vouched for');
    },

    /**
     * The same decision made with a passkey: checked as key servers and targets will check it
     * (passkey-approvals.ts), except the sign counter, which only they keep.
     */
    checkPasskeyApproval: async (item: PasskeyApproval, deployment: Deployment, expected: { userId: string; decision: Decision }) => {
      const wrong = checkStatement(item.approval, deployment, expected);
      const person = await activePerson(deployment.accountId, expected.userId);
      if (!person?.passkeys?.length) throw new ConflictError('The account owner has not vouched for a passkey of yours in a person statement: ask the owner for a passkey registration link, or decide with `latchkey approve`');
      const checked = await checkPasskeyApproval(item, person, {});
      if (!checked.ok) throw wrong(checked.why);
    },

    /** The person's passkeys the owner vouched for, as the approval page asks for one of them. */
    vouchedPasskeys: async (accountId: string, userId: string) => (await activePerson(accountId, userId))?.passkeys ?? [],
  };
};

export type SignedDecisions = ReturnType<typeof makeSignedDecisions>;
