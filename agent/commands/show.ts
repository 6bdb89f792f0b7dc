import { agentPublicKeys, loadAgentKeys } from '#shared/crypto/index.ts';
import { agentFingerprint, agentIdFor, keyFingerprint, fromB64, toB64 } from '#shared/protocol/trust.ts';
import { readState, statePaths } from '../state.ts';

/**
 * `show`: what the operator reads to the account owner, at any time after `init`: the agent's id,
 * public keys and fingerprint (the owner confirms the agent with it), and the owner key it pinned.
 * Only public halves are printed; the private ones are zeroed at once.
 */
export const show = async (options: { state: string }, out: (text: string) => void) => {
  const state = await readState(options.state);
  const keys = await loadAgentKeys(statePaths(options.state).keys);
  try {
    const publicKeys = agentPublicKeys(keys);
    const agentId = agentIdFor(publicKeys.signing);
    const fingerprint = agentFingerprint({ signingKey: publicKeys.signing, encryptionKey: publicKeys.encryption });
    out(
      [
        `agent id:               ${agentId}`,
        `agent fingerprint:      ${fingerprint}`,
        `signing key:            ${toB64(publicKeys.signing)}`,
        `encryption key:         ${toB64(publicKeys.encryption)}`,
        `owner key fingerprint:  ${keyFingerprint(fromB64(state.ownerKey))}`,
        state.enrolment
          ? `enrolled as a ${state.enrolment.role} in ${state.enrolment.accountId}; the owner confirms it with: latchkey agents confirm ${agentId} --fingerprint ${fingerprint}`
          : 'not enrolled yet: latchkey-agent enrol',
        '',
      ].join('\n'),
    );
  } finally {
    keys.encryption.privateKey.fill(0);
    keys.signing.privateKey.fill(0);
  }
};
