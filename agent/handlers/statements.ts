import { pinKey, StatementError, verifyStatement } from '#shared/protocol/statements.ts';
import { RequestRefused, type Handler, type HandlerSet } from './types.ts';

/**
 * `learn-statements`: owner statements every agent should know (an agent's removal). Each must be
 * the owner's, for this account; each is pinned unless a newer one is pinned already (a late
 * redelivery is no attack). One that is not the owner's refuses the whole request, pinning none.
 */
const learnStatements: Handler<'learn-statements'> = async (request, { self }) => {
  const statements = request.statements.map((signed) => {
    try {
      return verifyStatement(self.ownerKey, signed, { kind: signed.statement.kind, accountId: self.accountId });
    } catch (error) {
      if (error instanceof StatementError) throw new RequestRefused('UntrustedStatement', error.message);
      throw error;
    }
  });
  const newer = statements.filter((s) => s.version > (self.statements.pinned(pinKey(s)) ?? 0));
  self.statements.see(statements);
  return { learned: newer.length };
};

export const statementHandlers: HandlerSet = { 'learn-statements': learnStatements };
