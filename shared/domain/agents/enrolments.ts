import type { z } from 'zod';
import { verifyWithLabel } from '#shared/crypto/signatures.ts';
import type { createEnrolmentInput } from '#shared/protocol/agents.ts';
import { canonicalJson } from '#shared/protocol/canonical-json.ts';
import { fromB64, type EnrolmentStatement } from '#shared/protocol/trust.ts';
import type { AgentStore } from '#shared/ports/agent-store.ts';
import type { Actor } from '../access/actor.ts';
import type { DirectoryDeps } from '../directory/deps.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { StoredEnrolment } from './model.ts';

export const statementOf = (enrolment: StoredEnrolment): EnrolmentStatement => ({
  v: 1,
  accountId: enrolment.accountId,
  enrolmentId: enrolment.enrolmentId,
  role: enrolment.role,
  environments: [...enrolment.environments].sort(),
  expiresAt: enrolment.expiresAt,
  tokenPublicKey: enrolment.tokenPublicKey,
});

export const ownerSignatureVerifies = (ownerKey: string, statement: EnrolmentStatement, signature: string) => {
  try {
    verifyWithLabel(fromB64(ownerKey), 'latchkey/enrolment/v1\0', Buffer.from(canonicalJson(statement)), fromB64(signature), 'enrolment');
    return true;
  } catch {
    return false;
  }
};

const view = (enrolment: StoredEnrolment) => ({
  enrolmentId: enrolment.enrolmentId,
  role: enrolment.role,
  environments: enrolment.environments,
  expiresAt: enrolment.expiresAt,
  createdAt: enrolment.createdAt,
  statement: statementOf(enrolment),
  signed: !!enrolment.ownerSignature,
});

export const makeEnrolments = ({ directory, agents, act, clock, ids }: DirectoryDeps & { agents: AgentStore }) => ({
  create: (actor: Actor, input: z.infer<typeof createEnrolmentInput>) =>
    act(actor, 'enrolments:create', { target: (e) => ({ type: 'enrolment', id: e.enrolmentId }) }, async () => {
      // 1. Environments must be this account's; a target needs one (the input schema), and a key
      //    server that names some also installs releases there (the seeds' key servers deploy too).
      // 2. Only the public half of the one-time token key comes here: the backend can never
      //    enrol an agent with it. The owner signs the statement next (PUT …/signature).
      for (const environmentId of input.environments) {
        if (!(await directory.getEnvironment(actor.accountId, environmentId))) {
          throw new ValidationError(`environments: no such environment ${environmentId}`, 'environments');
        }
      }
      const now = clock.now();
      const enrolment: StoredEnrolment = {
        accountId: actor.accountId,
        enrolmentId: ids.next('enr'),
        role: input.role,
        environments: [...new Set(input.environments)].sort(),
        tokenPublicKey: input.tokenPublicKey,
        createdBy: actor.userId,
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + input.expiresInHours * 3_600_000).toISOString(),
      };
      await agents.putEnrolment(enrolment);
      return view(enrolment);
    }),

  sign: (actor: Actor, enrolmentId: string, signature: string) =>
    act(actor, 'enrolments:create', { target: { type: 'enrolment', id: enrolmentId } }, async () => {
      const [account, enrolment] = await Promise.all([directory.getAccount(actor.accountId), agents.getEnrolment(actor.accountId, enrolmentId)]);
      if (!enrolment) throw new NotFoundError('No such enrolment');
      if (!account?.ownerKey) throw new ConflictError('Register the owner key first (PUT /account/owner-key)');
      if (!ownerSignatureVerifies(account.ownerKey.publicKey, statementOf(enrolment), signature)) {
        throw new ValidationError('signature: does not verify under the account’s owner key', 'signature');
      }
      return view(await agents.signEnrolment(actor.accountId, enrolmentId, signature));
    }),

  /** For the enrolling agent: only signed, unused, unexpired enrolments are shown. */
  getSigned: async (enrolmentId: string) => {
    const enrolment = await agents.findEnrolment(enrolmentId);
    if (!enrolment?.ownerSignature || enrolment.usedAt || enrolment.expiresAt <= clock.now().toISOString()) {
      throw new NotFoundError('No such enrolment, or it was used or has expired');
    }
    return { statement: statementOf(enrolment), ownerSignature: enrolment.ownerSignature };
  },
});
