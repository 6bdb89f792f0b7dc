/**
 * shared/crypto — the release format, key wrapping and signatures (docs/release-format.md).
 * Pure Node code (node:crypto + @hpke/core); used by the CLI (push) and the agent only.
 */
import { randomBytes } from 'node:crypto';
import { KEY_BYTES } from './kdf.ts';

export { encodeContext, decodeContext, contextHash, sameContext, describeContext, MAX_CONTEXT_BYTES } from './context.ts';
export type { CryptoContext, Purpose } from './context.ts';

export * from './errors.ts';

export { encryptRelease, decryptRelease } from './release-stream.ts';
export type { EncryptReleaseOptions, DecryptReleaseOptions, EncryptedRelease } from './release-stream.ts';
export type { ReleaseInput } from './byte-source.ts';
export { DEFAULT_SEGMENT_SIZE, RELEASE_MAGIC, RELEASE_VERSION, parseHeader, ciphertextSizeFor } from './release-format.ts';
export type { ReleaseHeader } from './release-format.ts';

export { signManifest, verifyManifest, encodeManifest, decodeManifest, manifestHash } from './manifest.ts';
export type { ReleaseManifest, UnsignedManifest } from './manifest.ts';

export { hpkeWrap, hpkeUnwrap, hpkeRecipientKeyId } from './hpke-wrap.ts';

export { generateMasterKey, wrapUnderMaster, unwrapUnderMaster, masterVersionOf } from './master-wrap.ts';
export type { MasterKey } from './master-wrap.ts';

export { sealKeyList, openKeyList, findRelease, encodeKeyList, decodeKeyList } from './key-list.ts';
export type { KeyListEntry } from './key-list.ts';

export { signGrant, verifyGrant, encodeGrant, decodeGrant } from './grant.ts';
export type { DeploymentGrant, UnsignedGrant, GrantExpectations } from './grant.ts';

export {
  generateAgentKeys,
  agentPublicKeys,
  saveAgentKeys,
  loadAgentKeys,
  encodeAgentKeyFile,
  decodeAgentKeyFile,
} from './agent-keys.ts';
export type { AgentKeys, AgentPublicKeys } from './agent-keys.ts';

export { keyId } from './raw-keys.ts';
export { signWithLabel, verifyWithLabel, SIGNATURE_BYTES } from './signatures.ts';
export { generateRawKeyPair, publicFromPrivate } from './raw-keys.ts';
export type { RawKeyPair } from './raw-keys.ts';

/** A fresh AES-256 release key (one per release). */
export const generateReleaseKey = (): Buffer => randomBytes(KEY_BYTES);
/** A fresh AES-256 deployment key (one per deployment). */
export const generateDeploymentKey = (): Buffer => randomBytes(KEY_BYTES);
