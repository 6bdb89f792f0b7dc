import { loadAgentKeys, publicFromPrivate } from '#shared/crypto/index.ts';
import { agentFingerprint, agentIdFor, fromB64, keyFingerprint, parseEnrolmentToken, signBinding, toB64, UntrustedAgentError, verifyAgentProof, type AgentBinding, type AgentProof } from '#shared/protocol/trust.ts';
import type { AgentApi } from '../api.ts';
import { StateError, TrustError, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { isolationFor } from '../isolation/check.ts';
import { readState, statePaths, writeState } from '../state.ts';

export interface EnrolOptions {
  state: string;
  token: string;
  name?: string | undefined;
}

/**
 * `enrol`:
 *   1. parse the token (enrolment id + the one-time token key's secret half);
 *   2. fetch the enrolment and check it against the pinned owner key and the token — before
 *      anything is sent, so a backend cannot enrol this agent into an enrolment it made up;
 *   3. bind the agent's public keys to it, signed with the token key and with the agent key;
 *   4. register; 5. store the result. The token seed is never stored and is zeroed at the end.
 */
export const enrol = async (options: EnrolOptions, deps: { api: (endpoint: string) => AgentApi; log: Logger; out: (text: string) => void; now?: () => number }) => {
  const now = deps.now ?? Date.now;
  const state = await readState(options.state);
  if (state.enrolment) throw new StateError(`this agent is already enrolled as ${state.enrolment.agentId}`);
  const token = parseEnrolmentToken(options.token);
  if (!token) throw new UsageError('that is not an enrolment token (lke_enr_…)');

  const keys = await loadAgentKeys(statePaths(options.state).keys);
  try {
    const api = deps.api(state.endpoint);
    const ownerKey = fromB64(state.ownerKey);
    const { statement, ownerSignature } = await api.getEnrolment(token.enrolmentId);
    if (statement.enrolmentId !== token.enrolmentId) throw new TrustError(`the backend answered with enrolment ${statement.enrolmentId}, not ${token.enrolmentId}`);
    if (!publicFromPrivate('ed25519', token.tokenSeed).equals(fromB64(statement.tokenPublicKey))) {
      throw new TrustError('the enrolment the backend returned was not made for this token');
    }
    if (Date.parse(statement.expiresAt) <= now()) throw new StateError(`enrolment ${statement.enrolmentId} expired at ${statement.expiresAt}; ask the owner for a new token`);
    // An enrolment naming environments makes this agent install releases: refused before anything is registered unless release code can run apart from it.
    await isolationFor(state.install, statement, options.state);

    const signingKey = keys.signing.publicKey;
    const binding: AgentBinding = {
      v: 1,
      accountId: statement.accountId,
      enrolmentId: statement.enrolmentId,
      agentId: agentIdFor(signingKey),
      role: statement.role,
      encryptionKey: toB64(keys.encryption.publicKey),
      signingKey: toB64(signingKey),
      enrolledAt: new Date(now()).toISOString(),
    };
    const proof: AgentProof = {
      statement,
      ownerSignature,
      binding,
      tokenSignature: signBinding(token.tokenSeed, binding),
      agentSignature: signBinding(keys.signing.privateKey, binding),
    };
    // Our own proof, checked exactly as peers will check it; this is where the owner signature
    // over the statement is verified against the key pinned at init.
    try {
      verifyAgentProof(ownerKey, proof, { accountId: statement.accountId });
    } catch (error) {
      if (!(error instanceof UntrustedAgentError)) throw error;
      throw new TrustError(
        `refusing to enrol: ${error.message.replace(/^Agent \S+ is not trusted: /, '')} (pinned owner key fingerprint ${keyFingerprint(ownerKey)})`,
      );
    }

    const enrolled = await api.enrol({
      binding,
      tokenSignature: proof.tokenSignature,
      agentSignature: proof.agentSignature,
      ...(options.name === undefined ? {} : { name: options.name }),
    });
    if (enrolled.agentId !== binding.agentId) throw new TrustError(`the backend registered ${enrolled.agentId}, not ${binding.agentId}`);

    await writeState(options.state, {
      ...state,
      enrolment: {
        accountId: statement.accountId,
        agentId: binding.agentId,
        enrolmentId: statement.enrolmentId,
        role: statement.role,
        environments: statement.environments,
        queueUrl: enrolled.queueUrl,
        enrolledAt: binding.enrolledAt,
        proof,
      },
    });
    deps.log.info('agent enrolled', { agentId: binding.agentId, accountId: statement.accountId, enrolmentId: statement.enrolmentId, role: statement.role });
    const fingerprint = agentFingerprint({ signingKey: keys.signing.publicKey, encryptionKey: keys.encryption.publicKey });
    deps.out(
      [
        `Enrolled ${binding.agentId} as ${statement.role} in account ${statement.accountId}.`,
        `  agent fingerprint:  ${fingerprint}`,
        `  signing key:        ${binding.signingKey}`,
        `  encryption key:     ${binding.encryptionKey}`,
        'It gets no keys until the account owner confirms it. Read the fingerprint to the owner, who runs:',
        `  latchkey agents confirm ${binding.agentId} --fingerprint ${fingerprint}`,
        `Next: latchkey-agent run --state ${options.state}`,
        '',
      ].join('\n'),
    );
  } finally {
    token.tokenSeed.fill(0);
    keys.encryption.privateKey.fill(0);
    keys.signing.privateKey.fill(0);
  }
};
