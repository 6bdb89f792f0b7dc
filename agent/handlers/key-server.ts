import { generateMasterKey, hpkeUnwrap, wrapUnderMaster } from '#shared/crypto/index.ts';
import { releaseKeyToKeyServerContext, releaseKeyUnderMasterContext } from '#shared/protocol/key-contexts.ts';
import { fromB64, toB64 } from '#shared/protocol/trust.ts';
import { openMasterCopy, wrapMasterTo } from './master-copy.ts';
import { trustedPeers } from './peers.ts';
import { RequestRefused, type Handler, type HandlerSet } from './types.ts';

/**
 * The key server's requests (DESIGN §5). Every peer is verified against the pinned owner key
 * before the master key exists in memory; plaintext keys live in buffers this module owns and
 * are zeroed as soon as the wraps are made, on success and on failure.
 */

const KEY_BYTES = 32;

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
    const wraps = await wrapMasterTo(master, holders, context);
    await masters.pin(self.accountId, master.version, master.key, 'minted');
    return { version: master.version, wraps };
  } finally {
    master.key.fill(0);
  }
};

const shareMasterKey: Handler<'share-master-key'> = async (request, context) => {
  // 1. Verify the recipients; 2. verify, open and check our own copy; 3. wrap to each; 4. zero it.
  const recipients = trustedPeers(request.recipients, context.self, { role: 'keyserver' });
  const master = await openMasterCopy(request, request.version, context);
  try {
    return { version: master.version, wraps: await wrapMasterTo(master, recipients, context) };
  } finally {
    master.key.fill(0);
  }
};

const rewrapReleaseKey: Handler<'rewrap-release-key'> = async (request, context) => {
  const { self } = context;
  const ids = { accountId: self.accountId, appId: request.appId, releaseId: request.releaseId };
  // 1. Open our master copy (checking who signed it); 2. open the release key the pusher wrapped to us; 3. wrap it under
  //    the master key for this application and release; 4. zero both.
  const master = await openMasterCopy(request, request.version, context);
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
