import { timingSafeEqual } from 'node:crypto';
import type { Writable } from 'node:stream';
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
import type { EvidenceVerdict } from '#shared/domain/evidence/check-evidence.ts';
import type { AgentRequest } from '#shared/protocol/agent-messages.ts';
import { fromB64 } from '#shared/protocol/trust.ts';
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

/**
 * The manifest verified, for this release, under the pusher's key as the owner vouched for it in
 * the evidence (checked before this: handlers/evidence.ts) — never a key the backend names.
 */
const verifiedManifest = (request: DeployReleaseRequest, verdict: EvidenceVerdict, ids: DeployIds) =>
  integrity('the release manifest is refused', () => verifyManifest(fromB64(request.manifest), fromB64(verdict.pusher.signingKey!), releasePayloadContext(ids)));

/**
 * Everything a target checks before it decrypts a byte (DESIGN §5), after the evidence, in order:
 *   1. the key server is one the owner enrolled (its proof verifies under the pinned owner key);
 *   2. its grant verifies under that key server's key and names this deployment, environment and
 *      release, this target and its key, and the exact manifest, key list and wrapped key received;
 *   3. the manifest verifies under the pusher's key, for this release.
 * Returns the verified manifest.
 */
export const verifySecureRequest = (request: DeployReleaseRequest, verdict: EvidenceVerdict, context: HandlerContext, now: number): ReleaseManifest => {
  const { self } = context;
  const ids = deployIdsOf(request, self.accountId);
  const secure = request.secure!;
  const keyServer = trustedPeer(secure.keyServer, self, { role: 'keyserver' });
  integrity('the deployment grant is refused', () =>
    verifyGrant(fromB64(secure.grant), keyServer.signingKey, {
      context: grantContext(ids),
      targetAgentId: self.agentId,
      targetPublicKey: self.keys.encryption.publicKey,
      manifest: fromB64(request.manifest),
      keyList: fromB64(secure.keyList),
      wrappedKey: fromB64(secure.wrappedDeploymentKey),
      now,
    }),
  );
  return verifiedManifest(request, verdict, ids);
};

/**
 * Opens the deployment key and the key list, downloads the release and decrypts it into `into`
 * (each chunk once its tags verify, the end only after the final tag and the digest; destroyed
 * on a failure of the decryption). Keys are zeroed whatever happens.
 */
export const fetchSecureRelease = async (
  request: DeployReleaseRequest,
  verdict: EvidenceVerdict,
  manifest: ReleaseManifest,
  into: Writable,
  context: HandlerContext,
  origin: string | undefined,
) => {
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
        outputPath: { stream: into },
        releaseKey,
        context: releasePayloadContext(ids),
        manifest: fromB64(request.manifest),
        signerPublicKey: fromB64(verdict.pusher.signingKey!),
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
 * A plain release: the downloaded bytes must be the ones the pusher's signed manifest names (the
 * digest recorded at upload is only the backend's word).
 */
export const verifyPlainRequest = (request: DeployReleaseRequest, verdict: EvidenceVerdict, context: HandlerContext): ReleaseManifest =>
  verifiedManifest(request, verdict, deployIdsOf(request, context.self.accountId));

export const fetchPlainRelease = async (request: DeployReleaseRequest, manifest: ReleaseManifest, outputPath: string, context: HandlerContext, origin: string | undefined) => {
  const download = await openDownload(request.url, { origin, size: manifest.ciphertextSize, log: context.log, fields: { deploymentId: request.deploymentId } });
  const got = await downloadToFile(download, outputPath);
  if (got.size !== manifest.ciphertextSize || !same(got.sha256, manifest.fileDigest)) {
    throw new RequestRefused('IntegrityCheckFailed', 'the release file is refused: it differs from the one that was pushed');
  }
};
