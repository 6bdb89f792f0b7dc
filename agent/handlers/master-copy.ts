import { hpkeUnwrap, hpkeWrap, type MasterKey } from '#shared/crypto/index.ts';
import type { MasterCopy } from '#shared/protocol/agent-messages.ts';
import { masterKeyContext } from '#shared/protocol/key-contexts.ts';
import { commitsTo, fromB64, masterCommitment, masterWrapStatementOf, signMasterWrap, toB64, verifyMasterWrap } from '#shared/protocol/trust.ts';
import { trustedPeer, type TrustedPeer } from './peers.ts';
import { RequestRefused, type HandlerContext } from './types.ts';

/**
 * Master key copies, made and opened. HPKE base mode does not say who wrapped a copy, so a
 * backend could hand a key server a "master key" of its own choosing and later read every
 * release key re-wrapped under it. Every copy is therefore signed by the key server that made it
 * (shared/protocol/trust.ts, masterWrapStatement), and a key server opens a copy only after it
 * has checked, under its pinned owner key, that an enrolled key server signed exactly this copy
 * for it. Every request that hands an agent its copy goes through `openMasterCopy`.
 */

const KEY_BYTES = 32;

/** Wraps `master` to each verified peer and signs each copy as this key server. */
export const wrapMasterTo = async (master: MasterKey, peers: TrustedPeer[], { self }: Pick<HandlerContext, 'self'>) => {
  const context = masterKeyContext({ accountId: self.accountId, version: master.version });
  const commitment = masterCommitment(self.accountId, master.version, master.key).toString('hex');
  const wraps: { agentId: string; wrappedMaster: string; commitment: string; signature: string }[] = [];
  for (const peer of peers) {
    const wrappedMaster = toB64(await hpkeWrap(peer.encryptionKey, context, master.key));
    const statement = masterWrapStatementOf({ accountId: self.accountId, version: master.version, recipientId: peer.agentId, wrappedMaster, commitment });
    wraps.push({ agentId: peer.agentId, wrappedMaster, commitment, signature: signMasterWrap(self.keys.signing.privateKey, statement) });
  }
  return wraps;
};

/**
 * Refuses a copy unless a key server the owner enrolled and confirmed signed it for this agent,
 * this account and this version. One the owner removed since still vouches for the copies it made
 * while it was trusted: removing a key server must not cost its peers the versions it made (they
 * may not have opened their copies yet). Checks only public data: call it before anything is unwrapped.
 */
export const verifyMasterCopy = (copy: MasterCopy, version: number, { self }: Pick<HandlerContext, 'self'>) => {
  let wrapper: TrustedPeer;
  try {
    wrapper = trustedPeer(copy.masterWrapper, self, { role: 'keyserver', evenIfRemoved: true });
  } catch (error) {
    throw new RequestRefused('UntrustedMasterCopy', `the copy of master key version ${version} was not made by a trusted key server: ${(error as Error).message}`);
  }
  const statement = masterWrapStatementOf({
    accountId: self.accountId,
    version,
    recipientId: self.agentId,
    wrappedMaster: copy.wrappedMaster,
    commitment: copy.masterCommitment,
  });
  if (!verifyMasterWrap(wrapper.signingKey, statement, copy.masterWrapSignature)) {
    throw new RequestRefused('UntrustedMasterCopy', `the copy of master key version ${version} is not signed for ${self.agentId} by key server ${wrapper.agentId}`);
  }
  return wrapper;
};

/**
 * Opens this agent's own copy of master key `version`: verify who made it (above), open it, check
 * it is the key its signer committed to, and that it is the key this agent knows as that version
 * (master-pins.ts; a version seen for the first time is pinned). The caller zeroes the key.
 */
export const openMasterCopy = async (copy: MasterCopy, version: number, context: HandlerContext): Promise<MasterKey> => {
  const { self, masters, log } = context;
  verifyMasterCopy(copy, version, context);
  const key = await hpkeUnwrap(self.keys.encryption.privateKey, masterKeyContext({ accountId: self.accountId, version }), fromB64(copy.wrappedMaster));
  const refuse = (code: string, message: string): never => {
    key.fill(0);
    throw new RequestRefused(code, message);
  };
  if (key.byteLength !== KEY_BYTES) refuse('MalformedWrap', `the master key copy for version ${version} is not a 32-byte key`);
  if (!commitsTo(copy.masterCommitment, self.accountId, version, key)) {
    refuse('UntrustedMasterCopy', `the copy of master key version ${version} does not hold the key its signer committed to`);
  }
  const pinned = masters.check(self.accountId, version, key);
  if (pinned === 'mismatch') refuse('MasterKeyMismatch', `the key offered as master key version ${version} is not the one this key server holds`);
  if (pinned === 'unpinned') {
    try {
      await masters.pin(self.accountId, version, key, 'learned');
    } catch (error) {
      key.fill(0);
      throw error;
    }
    log.info('master key version pinned on first use', { version });
  }
  return { version, key };
};
