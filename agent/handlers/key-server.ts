import { generateMasterKey, hpkeUnwrap, hpkeWrap, wrapUnderMaster, type MasterKey } from '#shared/crypto/index.ts';
import { masterKeyContext, releaseKeyToKeyServerContext, releaseKeyUnderMasterContext } from '#shared/protocol/key-contexts.ts';
import { fromB64, toB64 } from '#shared/protocol/trust.ts';
import { trustedPeers, type TrustedPeer } from './peers.ts';
import { RequestRefused, type Handler, type HandlerContext, type HandlerSet } from './types.ts';

/**
 * The key server's requests (DESIGN §5). Every peer is verified against the pinned owner key
 * before the master key exists in memory; plaintext keys live in buffers this module owns and
 * are zeroed as soon as the wraps are made, on success and on failure.
 */

const KEY_BYTES = 32;

const wrapMasterTo = async (master: MasterKey, peers: TrustedPeer[], accountId: string) => {
  const context = masterKeyContext({ accountId, version: master.version });
  const wraps: { agentId: string; wrappedMaster: string }[] = [];
  for (const peer of peers) {
    wraps.push({ agentId: peer.agentId, wrappedMaster: toB64(await hpkeWrap(peer.encryptionKey, context, master.key)) });
  }
  return wraps;
};

/**
 * Opens this agent's own copy of master key `version` and checks it is the key this agent knows
 * as that version (see master-pins.ts: anyone can HPKE-wrap a key to us). The caller zeroes it.
 */
const openOwnMaster = async (wrappedMaster: string, version: number, { self, masters, log }: HandlerContext): Promise<MasterKey> => {
  const key = await hpkeUnwrap(self.keys.encryption.privateKey, masterKeyContext({ accountId: self.accountId, version }), fromB64(wrappedMaster));
  if (key.byteLength !== KEY_BYTES) {
    key.fill(0);
    throw new RequestRefused('MalformedWrap', `the master key copy for version ${version} is not a 32-byte key`);
  }
  const pinned = masters.check(self.accountId, version, key);
  if (pinned === 'mismatch') {
    key.fill(0);
    throw new RequestRefused('MasterKeyMismatch', `the key offered as master key version ${version} is not the one this key server holds`);
  }
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

const createMasterKey: Handler<'create-master-key'> = async (request, context) => {
  const { self, masters, mintedVersion } = context;
  // 1. Verify every holder first: a refusal must not cost a master key.
  const holders = trustedPeers(request.holders, self, { role: 'keyserver' });
  // 2. A version is minted once. A redelivery of the same request never gets here (the journal
  //    answers it); a new request for a version that exists would split the account in two keys.
  const earlier = mintedVersion(request.version);
  if (earlier || masters.sourceOf(request.version) === 'learned') {
    throw new RequestRefused('MasterKeyExists', `master key version ${request.version} already exists${earlier ? ` (request ${earlier})` : ''}`);
  }
  // 3. Mint, pin, wrap to every holder, forget.
  const master = generateMasterKey(request.version);
  try {
    const wraps = await wrapMasterTo(master, holders, self.accountId);
    await masters.pin(self.accountId, master.version, master.key, 'minted');
    return { version: master.version, wraps };
  } finally {
    master.key.fill(0);
  }
};

const shareMasterKey: Handler<'share-master-key'> = async (request, context) => {
  // 1. Verify the recipients; 2. open and check our own copy; 3. wrap to each; 4. zero it.
  const recipients = trustedPeers(request.recipients, context.self, { role: 'keyserver' });
  const master = await openOwnMaster(request.wrappedMaster, request.version, context);
  try {
    return { version: master.version, wraps: await wrapMasterTo(master, recipients, context.self.accountId) };
  } finally {
    master.key.fill(0);
  }
};

const rewrapReleaseKey: Handler<'rewrap-release-key'> = async (request, context) => {
  const { self } = context;
  const ids = { accountId: self.accountId, appId: request.appId, releaseId: request.releaseId };
  // 1. Open our master copy; 2. open the release key the pusher wrapped to us; 3. wrap it under
  //    the master key for this application and release; 4. zero both.
  const master = await openOwnMaster(request.wrappedMaster, request.version, context);
  let releaseKey: Buffer | undefined;
  try {
    releaseKey = await hpkeUnwrap(self.keys.encryption.privateKey, releaseKeyToKeyServerContext(ids), fromB64(request.wrappedReleaseKey));
    if (releaseKey.byteLength !== KEY_BYTES) throw new RequestRefused('MalformedWrap', `the release key for ${request.releaseId} is not a 32-byte key`);
    const wrapped = wrapUnderMaster(master, releaseKeyUnderMasterContext({ ...ids, version: master.version }), releaseKey);
    return { version: master.version, wrappedReleaseKey: toB64(wrapped) };
  } finally {
    master.key.fill(0);
    releaseKey?.fill(0);
  }
};

export const keyServerHandlers: HandlerSet = {
  'create-master-key': createMasterKey,
  'share-master-key': shareMasterKey,
  'rewrap-release-key': rewrapReleaseKey,
};
