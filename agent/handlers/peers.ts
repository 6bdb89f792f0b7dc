import { fromB64, UntrustedAgentError, verifyAgentProof } from '#shared/protocol/trust.ts';
import type { AgentRecord } from '#shared/protocol/agent-messages.ts';
import { RequestRefused, type AgentIdentity } from './types.ts';

export interface TrustedPeer {
  agentId: string;
  role: 'keyserver' | 'target';
  environments: string[];
  /** From the owner-verified binding, never from the record's top-level fields. */
  encryptionKey: Buffer;
  signingKey: Buffer;
}

/**
 * Checks a peer the backend names before anything is wrapped to it: its proof must verify under
 * the pinned owner key, and the record the backend shows must agree with that proof (a backend
 * that swaps the top-level encryption key would otherwise get the wrap). Keys are taken from the
 * verified binding only.
 */
export const trustedPeer = (record: AgentRecord, self: AgentIdentity, expect: { role: 'keyserver' | 'target' }): TrustedPeer => {
  let verified: TrustedPeer;
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
  return verified;
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
