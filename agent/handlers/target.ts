import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MAX_REPORT_OUTPUT } from '#shared/protocol/deploy-messages.ts';
import type { Isolation } from '../isolation/release-user.ts';
import { statePaths } from '../state.ts';
import { installRelease, type ReleaseSource } from '../target/install.ts';
import { fetchPlainRelease, fetchSecureRelease, verifyPlainRequest, verifySecureRequest } from '../target/open-release.ts';
import { appTree, releaseDirName } from '../target/release-tree.ts';
import { requestExpired } from '../target/request-expiry.ts';
import { refuseReservedVariables } from '../target/script-env.ts';
import { openScriptLog } from '../target/script-log.ts';
import { openUsedGrants, type UsedGrants } from '../target/used-grants.ts';
import { checkDeploymentEvidence } from './evidence.ts';
import { releaseInstalled } from './receipts.ts';
import { RequestRefused, type Handler, type HandlerSet } from './types.ts';

export type TargetOptions = {
  /** The agent's state directory: used grants, the staging of downloads and the local scripts log. */
  stateDir: string;
  /** Who runs release code and where its tree is (agent/isolation/): never the agent itself. */
  isolation: Isolation;
  /** The releases bucket's URL prefix, as the backend named it when the current session opened. */
  releasesOrigin: () => Promise<string | undefined>;
  /** The environments the owner-signed enrolment names: the only ones this target serves. */
  environments: readonly string[];
  /** Release directories kept per application, the current one included. Default 5. */
  keep?: number;
  /** Per script. Default 10 minutes. */
  scriptTimeoutMs?: number;
  /** How far this machine's clock may run ahead of the backend's (target/request-expiry.ts). Default CLOCK_SKEW_MS; only tests shorten it (run --clock-skew). */
  clockSkewMs?: number;
  now?: () => number;
};

/** Removes everything under `dir` (the agent's own staging) but keeps `dir` itself. */
const emptyDir = async (dir: string) => {
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
};

/**
 * The target role (DESIGN §5, §6): install one release for one deployment, or refuse and say why.
 *   1. serve only environments the owner-signed enrolment names (a refusal is logged for audit),
 *      and only requests the backend still waits for (target/request-expiry.ts); refuse any
 *      variable name that changes how programs load code (target/script-env.ts);
 *   2. check the evidence (docs/trust.md: the owner's statements — with the environment's variables
 *      and whether output is reported —, the deployer's intent, the approvals), then the manifest
 *      under the pusher's key the owner vouched for; secure: key server and grant (it names this target) first;
 *   3. refuse a grant already used by another request (a replayed old deployment), else record it;
 *   4. download (only from the releases origin, never past the manifest's size) and verify
 *      (secure: decrypt) into the agent's private staging;
 *   5. install as the release user (target/install.ts), its output in the local scripts log;
 *   6. report the release now current, and the tail of the scripts' output only if the
 *      environment opted in.
 */
export const targetHandlers = (options: TargetOptions): HandlerSet => {
  const now = options.now ?? Date.now;
  let usedGrants: UsedGrants | undefined;

  const deployRelease: Handler<'deploy-release'> = async (request, context) => {
    const { log } = context;
    const ids = { requestId: request.requestId, deploymentId: request.deploymentId, environmentId: request.environmentId };
    if (!options.environments.includes(request.environmentId)) {
      log.warn('audit: deployment refused, environment not in this target’s enrolment', ids);
      throw new RequestRefused('EnvironmentNotServed', `this target is not enrolled for environment ${request.environmentId}; nothing was installed`);
    }
    if (requestExpired(request.expiresAt, now(), options.clockSkewMs)) {
      log.warn('audit: expired deployment request refused', { ...ids, expiresAt: request.expiresAt });
      throw new RequestRefused('RequestExpired', `the request expired at ${request.expiresAt}: the backend no longer waits for it; nothing was installed`);
    }
    const verdict = await checkDeploymentEvidence(request, context, { encrypted: !!request.secure, now: now() });
    // The owner signed the variables; names that change how programs load code are refused all the same.
    const { variables, reportScriptOutput } = verdict.environment;
    refuseReservedVariables(variables);
    const manifest = request.secure ? verifySecureRequest(request, verdict, context, now()) : verifyPlainRequest(request, verdict, context);
    usedGrants ??= await openUsedGrants(join(options.stateDir, 'used-grants.json'), now);
    const earlier = usedGrants.usedByOther(request.deploymentId, request.requestId);
    if (earlier) {
      log.warn('audit: replayed deployment refused', { ...ids, earlierRequestId: earlier });
      throw new RequestRefused('GrantReplayed', `deployment ${request.deploymentId} was already delivered (request ${earlier}): a replay is refused; nothing was installed`);
    }
    await usedGrants.use(request.deploymentId, request.requestId);

    const { staging, scriptsLog } = statePaths(options.stateDir);
    await mkdir(staging, { recursive: true, mode: 0o700 });
    await emptyDir(staging); // leftovers of a run that died: never installed
    const origin = await options.releasesOrigin();
    const info = { appName: request.appName, releaseVersion: request.releaseVersion, environmentName: request.environmentName, deploymentId: request.deploymentId };
    try {
      // A secure release is unpacked as it downloads and decrypts, chunk by verified chunk: its
      // plaintext never touches the agent's disk. A plain one has no tag per segment, only the
      // digest of the whole file: it is downloaded here and checked before the release tree is
      // touched at all.
      let source: ReleaseSource;
      if (request.secure) {
        source = {
          codec: manifest.codec,
          deliver: async (into) => {
            await fetchSecureRelease(request, verdict, manifest, into, context, origin);
            log.debug('release decrypted', ids);
          },
        };
      } else {
        const archive = join(staging, `${request.deploymentId}.archive`);
        await fetchPlainRelease(request, manifest, archive, context, origin);
        log.debug('release downloaded', ids);
        source = { codec: manifest.codec, deliver: (into) => pipeline(createReadStream(archive), into) };
      }
      const scriptLog = await openScriptLog(scriptsLog, MAX_REPORT_OUTPUT, `deployment ${request.deploymentId}: ${info.appName} ${info.releaseVersion} to ${info.environmentName}`);
      try {
        const installed = await installRelease({
          isolation: options.isolation,
          tree: appTree(options.isolation.releasesDir, request.appId),
          source,
          variables,
          name: releaseDirName(now(), request.deploymentId),
          info,
          keep: options.keep ?? 5,
          scriptTimeoutMs: options.scriptTimeoutMs ?? 600_000,
          log: scriptLog,
          reportOutput: reportScriptOutput,
        });
        log.info('release installed', { ...ids, current: installed.current, pruned: installed.pruned.length });
        const receipt = releaseInstalled(context.self, request, manifest, { current: installed.current, at: now(), evidenceHash: verdict.evidenceHash, approvals: verdict.approvals });
        return { deploymentId: request.deploymentId, releaseId: request.releaseId, current: installed.current, output: installed.output, receipt };
      } finally {
        await scriptLog.close();
      }
    } finally {
      await emptyDir(staging);
    }
  };

  return { 'deploy-release': deployRelease };
};
