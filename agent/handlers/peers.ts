import { StatementError, verifyStatement } from '#shared/protocol/statements.ts';
import { fromB64, UntrustedAgentError, verifyAgentProof } from '#shared/protocol/trust.ts';
import type { AgentRecord } from '#shared/protocol/agent-messages.ts';
import { RequestRefused, type AgentIdentity } from './types.ts';

export interface TrustedPeer {
  agentId: string;
  role: 'keyserver' | 'target';
  /** From the owner's agent statement. */
  environments: string[];
  /** From the owner-verified binding, never from the record's top-level fields. */
  encryptionKey: Buffer;
  signingKey: Buffer;
}

/**
 * Checks a peer the backend names before anything is wrapped to it:
 *   1. its proof must verify under the pinned owner key (owner → enrolment → token → agent keys),
 *      and the record the backend shows must agree with it (a backend that swaps the top-level
 *      encryption key would otherwise get the wrap);
 *   2. the owner's agent statement for it must verify, be no older than the version pinned here
 *      (it is pinned now), say active, and name exactly the keys and role of the proof: the owner
 *      compared them with what the agent printed on its own machine, so an agent enrolled with a
 *      token someone else used, or one the owner removed, gets nothing.
 * Keys are taken from the verified binding only; environments from the statement.
 * `evenIfRemoved` accepts a peer the owner removed since (never one not confirmed): for who made a
 * master key copy, which it did while it was trusted (master-copy.ts).
 */
export const trustedPeer = (record: AgentRecord, self: AgentIdentity, expect: { role: 'keyserver' | 'target'; evenIfRemoved?: boolean }): TrustedPeer => {
  let verified: Omit<TrustedPeer, 'environments'>;
  try {
    verified = verifyAgentProof(self.ownerKey, record.proof, { accountId: self.accountId });
  } catch (error) {
    if (error instanceof UntrustedAgentError) throw new RequestRefused('UntrustedPeer', error.message);
    // A structurally broken key in a proof (e.g. not a valid point) is just as untrusted.
    throw new RequestRefused('UntrustedPeer', `Agent ${record.agentId} is not trusted: its proof cannot be checked`);
  }
  const refuse = (why: string): never => {
    throw new RequestRefused('UntrustedPeer', `Agent ${record.agentId} is not trusted: ${why}`);
  };
  if (verified.agentId !== record.agentId) refuse('its record names another agent than its proof');
  if (!verified.encryptionKey.equals(fromB64(record.encryptionKey)) || !verified.signingKey.equals(fromB64(record.signingKey))) {
    refuse('its listed keys differ from the keys its owner-signed enrolment binds');
  }
  if (record.role !== verified.role) refuse('its listed role differs from its enrolment');
  if (verified.role !== expect.role) refuse(`it is enrolled as a ${verified.role}, not a ${expect.role}`);

  if (!record.statement) return refuse('the account owner has not confirmed it (no agent statement)');
  let statement;
  try {
    statement = verifyStatement(self.ownerKey, record.statement, { kind: 'agent', accountId: self.accountId, subject: record.agentId, pinned: self.statements.pinned(`agent:${record.agentId}`) });
  } catch (error) {
    if (error instanceof StatementError) return refuse(`its agent statement is refused: ${error.message}`);
    throw error;
  }
  self.statements.see([statement]);
  if (statement.status !== 'active' && !expect.evenIfRemoved) refuse(`the account owner removed it (agent statement version ${statement.version})`);
  if (statement.role !== verified.role || !fromB64(statement.encryptionKey).equals(verified.encryptionKey) || !fromB64(statement.signingKey).equals(verified.signingKey)) {
    refuse('the account owner confirmed other keys or another role for it than its enrolment binds');
  }
  return { ...verified, environments: statement.environments };
};

/** All peers, or none: one untrusted or repeated peer refuses the whole request. */
export const trustedPeers = (records: AgentRecord[], self: AgentIdentity, expect: { role: 'keyserver' | 'target' }): TrustedPeer[] => {
  const seen = new Set<string>();
  return records.map((record) => {
    if (seen.has(record.agentId)) throw new RequestRefused('BadRequest', `Agent ${record.agentId} is listed twice`);
    seen.add(record.agentId);
    return trustedPeer(record, self, expect);
  });
};
