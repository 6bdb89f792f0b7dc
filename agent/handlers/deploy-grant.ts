import { createHash } from 'node:crypto';
import {
  generateDeploymentKey,
  hpkeWrap,
  keyId,
  manifestHash,
  sealKeyList,
  signGrant,
  unwrapUnderMaster,
  verifyManifest,
  wrapUnderMaster,
} from '#shared/crypto/index.ts';
import {
  deploymentKeyToTargetContext,
  deploymentKeyUnderMasterContext,
  grantContext,
  keyListContext,
  releasePayloadContext,
  type DeployIds,
} from '#shared/domain/deploys/contexts.ts';
import type { AgentRecord } from '#shared/protocol/agent-messages.ts';
import { releaseKeyUnderMasterContext } from '#shared/protocol/key-contexts.ts';
import { fromB64, toB64 } from '#shared/protocol/trust.ts';
import { statePaths } from '../state.ts';
import { openUsedGrants, type UsedGrants } from '../target/used-grants.ts';
import { checkDeploymentEvidence } from './evidence.ts';
import { openMasterCopy } from './master-copy.ts';
import { grantIssued } from './receipts.ts';
import { trustedPeer, type TrustedPeer } from './peers.ts';
import { RequestRefused, type AgentIdentity, type Handler, type HandlerSet } from './types.ts';

/** A grant is good for at most this long: a target that is offline longer gets a new deployment. */
export const MAX_GRANT_MS = 24 * 3600_000;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();

/**
 * A target the key server may wrap the deployment key to: its proof verifies under the pinned
 * owner key, and the environments its owner signed include this one. A key server whose own
 * enrolment names environments also serves them as a target (one agent, both roles).
 */
export const trustedTargets = (records: AgentRecord[], self: AgentIdentity, environmentId: string): TrustedPeer[] => {
  const seen = new Set<string>();
  return records.map((record) => {
    if (seen.has(record.agentId)) throw new RequestRefused('BadRequest', `Agent ${record.agentId} is listed twice`);
    seen.add(record.agentId);
    const peer = trustedPeer(record, self, { role: record.role });
    if (!peer.environments.includes(environmentId)) {
      throw new RequestRefused('UntrustedPeer', `Agent ${record.agentId} is not enrolled for environment ${environmentId}`);
    }
    return peer;
  });
};

/**
 * One request per deployment, whatever the number of targets (DESIGN §5, §10):
 *   1. check the evidence (the owner's statements, the deployer's intent, the approvals: docs/trust.md),
 *      that no other request got a grant for this deployment, every target, and the pusher's
 *      manifest, before any key is opened;
 *   2. open our master copy (signed by an enrolled key server) and the release key under it;
 *   3. write the key list (release key, header hash, ciphertext digest) under a fresh deployment key;
 *   4. wrap the deployment key under the master key (kept by the backend) and to each target;
 *   5. sign one grant per target naming the deployment, environment, release and every artefact;
 *   6. zero the master, release and deployment keys, on success and on failure.
 */
const grantHandler = (stateDir: string): Handler<'issue-deployment-grant'> => {
  let granted: UsedGrants | undefined;
  return async (request, context) => {
    const { self } = context;
    const ids: DeployIds = { accountId: self.accountId, appId: request.appId, releaseId: request.releaseId, environmentId: request.environmentId, deploymentId: request.deploymentId };
    const now = Date.now();
    const expiresAt = Date.parse(request.expiresAt);
    if (expiresAt <= now || expiresAt - now > MAX_GRANT_MS) throw new RequestRefused('BadRequest', `the grant expiry ${request.expiresAt} is not within the next 24 hours`);
    const evidence = await checkDeploymentEvidence(request, context, { encrypted: true, now });
    granted ??= await openUsedGrants(statePaths(stateDir).granted);
    const earlier = granted.usedByOther(request.deploymentId, request.requestId);
    if (earlier) throw new RequestRefused('AlreadyGranted', `deployment ${request.deploymentId} was granted before (request ${earlier}): one grant per deployment`);
    const targets = trustedTargets(request.targets, self, request.environmentId);
    const signedManifest = fromB64(request.manifest);
    const manifest = verifyManifest(signedManifest, fromB64(evidence.pusher.signingKey!), releasePayloadContext(ids));
    await granted.use(request.deploymentId, request.requestId);

    const master = await openMasterCopy(request, request.version, context);
    let releaseKey: Buffer | undefined;
    const deploymentKey = generateDeploymentKey();
    try {
      releaseKey = unwrapUnderMaster(master, releaseKeyUnderMasterContext({ ...ids, version: master.version }), fromB64(request.wrappedReleaseKey));
      const keyList = sealKeyList(deploymentKey, keyListContext(ids), [
        { context: releasePayloadContext(ids), releaseKey, headerHash: manifest.headerHash, fileDigest: manifest.fileDigest },
      ]);
      const deploymentKeyUnderMaster = wrapUnderMaster(master, deploymentKeyUnderMasterContext(ids, master.version), deploymentKey);
      const grants = [];
      for (const target of targets) {
        const wrapped = await hpkeWrap(target.encryptionKey, deploymentKeyToTargetContext(ids), deploymentKey);
        const grant = signGrant(
          {
            context: grantContext(ids),
            targetAgentId: target.agentId,
            targetKeyId: keyId(target.encryptionKey),
            manifestHash: manifestHash(signedManifest),
            keyListHash: sha256(keyList),
            wrappedKeyHash: sha256(wrapped),
            issuedAt: now,
            expiresAt,
          },
          self.keys.signing,
        );
        grants.push({ agentId: target.agentId, wrappedDeploymentKey: toB64(wrapped), grant: toB64(grant) });
      }
      context.log.info('deployment granted', { deploymentId: request.deploymentId, targets: grants.length, approvals: evidence.approvals });
      const receipt = grantIssued(self, request, manifest, { targets: grants.map((g) => g.agentId), issuedAt: now, expiresAt, evidenceHash: evidence.evidenceHash, approvals: evidence.approvals });
      return { version: master.version, deploymentKeyUnderMaster: toB64(deploymentKeyUnderMaster), keyList: toB64(keyList), grants, receipt };
    } finally {
      master.key.fill(0);
      releaseKey?.fill(0);
      deploymentKey.fill(0);
    }
  };
};

/** `stateDir`: where the key server keeps the deployments it granted. */
export const deployGrantHandlers = (stateDir: string): HandlerSet => ({ 'issue-deployment-grant': grantHandler(stateDir) });
