import type { AgentStore } from '#shared/ports/agent-store.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { StatementStore } from '#shared/ports/statement-store.ts';
import { canonicalJson } from '#shared/protocol/canonical-json.ts';
import { StatementError, subjectOf, verifyStatement, type SignedStatement, type Statement, type StatementKind } from '#shared/protocol/statements.ts';
import { fromB64 } from '#shared/protocol/trust.ts';
import type { Act } from '../access/act.ts';
import type { Actor } from '../access/actor.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';

type Deps = {
  directory: Pick<DirectoryStore, 'getAccount' | 'getUser' | 'getEnvironment' | 'getApp'>;
  agents: Pick<AgentStore, 'getAgent' | 'setAgentStatement'>;
  statements: StatementStore;
  act: Act;
  clock: Clock;
};

/**
 * The owner's statements as the backend keeps them (docs/trust.md). The backend is not what they
 * protect against — agents and the CLI check them themselves — but it keeps only what they would
 * accept, so a mistake shows at once instead of at the next deployment: the owner key signed it,
 * its subject exists in the account, and it is newer than the one on record.
 */
export const makeStatements = ({ directory, agents, statements, act, clock }: Deps) => {
  /** The subject must exist; an agent statement must name the keys the agent enrolled with. */
  const checkSubject = async (accountId: string, s: Statement) => {
    const missing = () => new NotFoundError(`No ${s.kind} ${subjectOf(s)} in this account`);
    switch (s.kind) {
      case 'person':
        if (!(await directory.getUser(accountId, s.userId))) throw missing();
        return;
      case 'environment':
        if (!(await directory.getEnvironment(accountId, s.environmentId))) throw missing();
        return;
      case 'application':
        if (!(await directory.getApp(accountId, s.appId))) throw missing();
        return;
      case 'agent': {
        const agent = await agents.getAgent(accountId, s.agentId);
        if (!agent) throw missing();
        const { binding } = agent.proof;
        if (binding.encryptionKey !== s.encryptionKey || binding.signingKey !== s.signingKey || binding.role !== s.role) {
          throw new ConflictError(`The statement names other keys or another role than agent ${s.agentId} enrolled with`);
        }
      }
    }
  };

  return {
    /**
     * 1. Only the owner records statements, and only under the account's owner key.
     * 2. The statement must verify and be about something in this account.
     * 3. Newer than the one on record: kept. The very same one again: answered as kept. Else 409.
     * 4. An agent statement is kept on the agent as well (below).
     */
    record: (actor: Actor, signed: SignedStatement) =>
      act(actor, 'statements:write', { target: { type: `${signed.statement.kind}-statement`, id: subjectOf(signed.statement) } }, async () => {
        const account = await directory.getAccount(actor.accountId);
        if (!account?.ownerKey) throw new ConflictError('Register the owner key first (PUT /account/owner-key)');
        let s: Statement;
        try {
          s = verifyStatement(fromB64(account.ownerKey.publicKey), signed, { kind: signed.statement.kind, accountId: actor.accountId });
        } catch (error) {
          if (error instanceof StatementError) throw new ValidationError(error.message, error.code === 'NotOwnerSigned' ? 'signature' : 'statement');
          throw error;
        }
        await checkSubject(actor.accountId, s);
        const recordedAt = clock.now().toISOString();
        const kept = await statements.put(actor.accountId, { statement: s, signature: signed.signature }, recordedAt);
        const same = kept.stored || (canonicalJson(kept.current.statement) === canonicalJson(s) && kept.current.signature === signed.signature);
        if (!same) throw new ConflictError(`Version ${s.version} of the ${s.kind} statement for ${subjectOf(s)} is not newer than version ${kept.current.statement.version} on record`);
        // 4. An agent's statement also travels with its record to peers (agents.ts, agentRecordOf):
        //    kept on the agent too, also when the same statement comes again after a cut-short write.
        if (s.kind === 'agent') await agents.setAgentStatement(actor.accountId, s.agentId, { statement: s, signature: signed.signature });
        return kept.stored ? { statement: s, signature: signed.signature, recordedAt } : kept.current;
      }),

    list: (actor: Actor, kind?: StatementKind) => act(actor, 'statements:list', { audited: false }, async () => ({ items: await statements.list(actor.accountId, kind) })),
  };
};

export type Statements = ReturnType<typeof makeStatements>;
