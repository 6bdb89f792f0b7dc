import { z } from 'zod';
import { appId, environmentId, isoTime } from './common.ts';
import { deploymentId } from './deployments.ts';
import { signedGrantReceipt, signedInstallReceipt } from './receipts.ts';
import { releaseId, releaseVersion, sha256Hex } from './releases.ts';
import { deploymentEvidence } from './deployment-evidence.ts';
import { base64url } from './trust.ts';

/**
 * The deploy requests (DESIGN §5): one `issue-deployment-grant` to one key server per deployment,
 * then one `deploy-release` to each target of the environment. agent-messages.ts owns the parts
 * every request shares (request id, agent records, master key copies) and registers these in its
 * unions; it hands those parts in here, so the two modules do not import each other.
 */

/** A signed manifest, grant or encrypted key list: small binary objects, base64url. */
const blob = base64url.min(16).max(16_384);

/** What the backend tells a target about the environment; the target runs scripts with these. */
export const deployVariables = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/), z.string().max(4096));

/** Most targets one deployment may have: every grant and wrap must fit in one 64 KiB reply. */
export const MAX_DEPLOY_TARGETS = 40;

/** The tail of the scripts' output a target reports (when the environment opts in), and a refusal's message: bounded. */
export const MAX_REPORT_OUTPUT = 1500;

type SharedParts<RB extends z.ZodRawShape, MC extends z.ZodRawShape, AR extends z.ZodType, W extends z.ZodType, V extends z.ZodType, A extends z.ZodType> = {
  requestBase: RB;
  masterCopyFields: MC;
  agentRecord: AR;
  wrapped: W;
  masterVersion: V;
  agentId: A;
};

export const deployMessages = <RB extends z.ZodRawShape, MC extends z.ZodRawShape, AR extends z.ZodType, W extends z.ZodType, V extends z.ZodType, A extends z.ZodType>(
  p: SharedParts<RB, MC, AR, W, V, A>,
) => {
  const deployIds = { deploymentId, appId, releaseId, environmentId };

  const issueDeploymentGrantRequest = z.strictObject({
    ...p.requestBase,
    type: z.literal('issue-deployment-grant'),
    ...deployIds,
    version: p.masterVersion,
    /** The key server's own copy of the master key `version`. */
    ...p.masterCopyFields,
    /** The release key, wrapped under master key `version` when the release was sealed. */
    wrappedReleaseKey: p.wrapped,
    /** The pusher's signed manifest: the evidence says whose key it verifies under. */
    manifest: blob,
    /** What the deployment rests on: the owner's statements, the deployer's intent, the approvals (docs/trust.md). */
    evidence: deploymentEvidence,
    /** Every target of the environment; the key server checks each one's owner-signed proof. */
    targets: z.array(p.agentRecord).min(1).max(MAX_DEPLOY_TARGETS),
    /** When the grants stop being good. */
    expiresAt: isoTime,
  });

  const deploymentGrant = z.strictObject({
    version: p.masterVersion,
    /** The deployment key under the master key: kept by the backend for targets enrolled later. */
    deploymentKeyUnderMaster: p.wrapped,
    /** The key list, encrypted under the deployment key. */
    keyList: blob,
    /** Per target: the deployment key HPKE-wrapped to it, and the grant signed for it. */
    grants: z.array(z.strictObject({ agentId: p.agentId, wrappedDeploymentKey: p.wrapped, grant: blob })).min(1).max(MAX_DEPLOY_TARGETS),
    /** The key server's signed "grant issued" (receipts.ts): kept with the deployment, checked by `latchkey status`. */
    receipt: signedGrantReceipt.optional(),
  });

  const deployReleaseRequest = z.strictObject({
    ...p.requestBase,
    type: z.literal('deploy-release'),
    ...deployIds,
    appName: z.string().max(100),
    releaseVersion,
    environmentName: z.string().max(100),
    /** A short-lived presigned GET URL of the release object. */
    url: z.string().url().max(4096),
    /** SHA-256 of the object as uploaded; what a plain release without a manifest is checked against. */
    digest: sha256Hex,
    /** The pusher's signed manifest (`latchkey push` signs every release). */
    manifest: blob,
    /**
     * What the deployment rests on: the owner's statements (the environment's, with its variables
     * and whether script output is reported), the deployer's intent, the approvals (docs/trust.md).
     */
    evidence: deploymentEvidence,
    /** Secure releases only: the key server that granted the deployment and what it made. */
    secure: z
      .strictObject({ keyServer: p.agentRecord, keyList: blob, wrappedDeploymentKey: p.wrapped, grant: blob })
      .optional(),
    /**
     * When the backend stops waiting for this target (dispatch + the target timeout): a target
     * refuses the request after it, so a copy the queue hands back late never installs. Set once
     * per deployment, so a resent request has the same content (agent/requests.ts requestDigest).
     */
    expiresAt: isoTime,
  });

  const deployReport = z.strictObject({
    deploymentId,
    releaseId,
    /** The release directory `current` now points to. */
    current: z.string().max(200),
    /** The last lines the scripts printed, when the environment opts in to reporting them; empty otherwise. */
    output: z.string().max(MAX_REPORT_OUTPUT),
    /** The target's signed "release installed" (receipts.ts): kept with the deployment, checked by `latchkey status`. */
    receipt: signedInstallReceipt.optional(),
  });

  return { issueDeploymentGrantRequest, deploymentGrant, deployReleaseRequest, deployReport };
};
