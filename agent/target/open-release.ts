import { timingSafeEqual } from 'node:crypto';
import {
  CryptoError,
  decryptRelease,
  findRelease,
  hpkeUnwrap,
  openKeyList,
  verifyGrant,
  verifyManifest,
  type ReleaseManifest,
} from '#shared/crypto/index.ts';
import {
  deploymentKeyToTargetContext,
  grantContext,
  keyListContext,
  releasePayloadContext,
  type DeployIds,
} from '#shared/domain/deploys/contexts.ts';
import type { AgentRequest } from '#shared/protocol/agent-messages.ts';
import { signingKeyVouchProblem } from '#shared/protocol/signing-keys.ts';
import { fromB64, keyFingerprint } from '#shared/protocol/trust.ts';
import { trustedPeer } from '../handlers/peers.ts';
import { RequestRefused, type HandlerContext } from '../handlers/types.ts';
import { downloadToFile, openDownload } from './download.ts';

export type DeployReleaseRequest = Extract<AgentRequest, { type: 'deploy-release' }>;

export const deployIdsOf = (request: DeployReleaseRequest, accountId: string): DeployIds => ({
  accountId,
  appId: request.appId,
  releaseId: request.releaseId,
  environmentId: request.environmentId,
  deploymentId: request.deploymentId,
});

const refusedAs = (what: string) => (error: unknown): never => {
  if (error instanceof CryptoError) throw new RequestRefused('IntegrityCheckFailed', `${what}: ${error.message}`);
  throw error;
};

/** Runs a crypto check and turns its failure into a refusal that says what was refused. */
const integrity = <T>(what: string, check: () => T): T => {
  try {
    return check();
  } catch (error) {
    return refusedAs(what)(error);
  }
};

const same = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && timingSafeEqual(a, b);

/** The signed manifest and the pusher's key, as sent; a secure release never goes without them. */
const signedManifestOf = (request: DeployReleaseRequest) => {
  if (!request.manifest || !request.manifestSigner) throw new RequestRefused('IntegrityCheckFailed', 'the release came without its signed manifest');
  return { bytes: fromB64(request.manifest), signer: fromB64(request.manifestSigner) };
};

/**
 * The manifest verified under the pusher's key, for this release, once the owner's statement for
 * that key verifies under the owner key pinned at init: the backend names the key, and a backend
 * that named one of its own would otherwise have its own release installed (docs/signing-keys.md).
 */
const verifiedManifest = (request: DeployReleaseRequest, context: HandlerContext, ids: DeployIds) => {
  const { bytes, signer } = signedManifestOf(request);
  const { self, log } = context;
  const problem = request.signerVouch
    ? signingKeyVouchProblem(self.ownerKey, request.signerVouch, { accountId: self.accountId, publicKey: request.manifestSigner! })
    : 'the account owner has not vouched for it';
  if (problem) {
    const fingerprint = keyFingerprint(signer);
    log.warn('audit: deployment refused, release signer not vouched for by the owner', { requestId: request.requestId, deploymentId: request.deploymentId, signer: fingerprint });
    throw new RequestRefused('UntrustedSigner', `the release signer ${fingerprint} is refused: ${problem}; nothing was installed`);
  }
  return integrity('the release manifest is refused', () => verifyManifest(bytes, signer, releasePayloadContext(ids)));
};

/**
 * Everything a target checks before it decrypts a byte (DESIGN §5), in order:
 *   1. the key server is one the owner enrolled (its proof verifies under the pinned owner key);
 *   2. its grant verifies under that key server's key and names this deployment, environment and
 *      release, this target and its key, and the exact manifest, key list and wrapped key received;
 *   3. the manifest verifies under the pusher's key, for this release.
 * Returns the verified manifest.
 */
export const verifySecureRequest = (request: DeployReleaseRequest, context: HandlerContext, now: number): ReleaseManifest => {
  const { self } = context;
  const ids = deployIdsOf(request, self.accountId);
  const secure = request.secure!;
  const keyServer = trustedPeer(secure.keyServer, self, { role: 'keyserver' });
  integrity('the deployment grant is refused', () =>
    verifyGrant(fromB64(secure.grant), keyServer.signingKey, {
      context: grantContext(ids),
      targetAgentId: self.agentId,
      targetPublicKey: self.keys.encryption.publicKey,
      manifest: signedManifestOf(request).bytes,
      keyList: fromB64(secure.keyList),
      wrappedKey: fromB64(secure.wrappedDeploymentKey),
      now,
    }),
  );
  return verifiedManifest(request, context, ids);
};

/**
 * Opens the deployment key and the key list, downloads the release and decrypts it to
 * `outputPath` (decryptRelease writes a temporary file and renames it only once every segment
 * and the digest the manifest names have verified). Keys are zeroed whatever happens.
 */
export const fetchSecureRelease = async (request: DeployReleaseRequest, manifest: ReleaseManifest, outputPath: string, context: HandlerContext, origin: string | undefined) => {
  const { self, log } = context;
  const ids = deployIdsOf(request, self.accountId);
  const secure = request.secure!;
  const deploymentKey = await hpkeUnwrap(self.keys.encryption.privateKey, deploymentKeyToTargetContext(ids), fromB64(secure.wrappedDeploymentKey)).catch(
    refusedAs('the wrapped deployment key is refused'),
  );
  let releaseKey: Uint8Array | undefined;
  try {
    const entries = integrity('the key list is refused', () => openKeyList(deploymentKey, keyListContext(ids), fromB64(secure.keyList)));
    const entry = integrity('the key list is refused', () => findRelease(entries, releasePayloadContext(ids)));
    releaseKey = entry.releaseKey;
    for (const other of entries) if (other !== entry) other.releaseKey.fill(0);
    if (!same(entry.fileDigest, manifest.fileDigest) || !same(entry.headerHash, manifest.headerHash)) {
      throw new RequestRefused('IntegrityCheckFailed', 'the key list names another release file than the manifest');
    }
    const download = await openDownload(request.url, { origin, size: manifest.ciphertextSize, log, fields: { deploymentId: request.deploymentId } });
    try {
      await decryptRelease({
        input: download,
        outputPath,
        releaseKey,
        context: releasePayloadContext(ids),
        manifest: signedManifestOf(request).bytes,
        signerPublicKey: signedManifestOf(request).signer,
      });
    } catch (error) {
      download.destroy();
      refusedAs('the release file is refused')(error);
    }
  } finally {
    deploymentKey.fill(0);
    releaseKey?.fill(0);
  }
};

/**
 * A plain release: the downloaded bytes must be the ones the pusher's signed manifest names. One
 * without a manifest is refused: the digest recorded at upload is only the backend's word.
 */
export const verifyPlainRequest = (request: DeployReleaseRequest, context: HandlerContext): ReleaseManifest =>
  verifiedManifest(request, context, deployIdsOf(request, context.self.accountId));

export const fetchPlainRelease = async (request: DeployReleaseRequest, manifest: ReleaseManifest, outputPath: string, context: HandlerContext, origin: string | undefined) => {
  const download = await openDownload(request.url, { origin, size: manifest.ciphertextSize, log: context.log, fields: { deploymentId: request.deploymentId } });
  const got = await downloadToFile(download, outputPath);
  if (got.size !== manifest.ciphertextSize || !same(got.sha256, manifest.fileDigest)) {
    throw new RequestRefused('IntegrityCheckFailed', 'the release file is refused: it differs from the one that was pushed');
  }
};
