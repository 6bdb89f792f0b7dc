import { join } from 'node:path';
import { appLayout, emptyDir, prepareLayout, releaseDirName } from '../target/layout.ts';
import { installRelease } from '../target/install.ts';
import { fetchPlainRelease, fetchSecureRelease, verifyPlainRequest, verifySecureRequest } from '../target/open-release.ts';
import { requestExpired } from '../target/request-expiry.ts';
import { openUsedGrants, type UsedGrants } from '../target/used-grants.ts';
import { RequestRefused, type Handler, type HandlerSet } from './types.ts';

export type TargetOptions = {
  /** The agent's state directory: releases are installed under it (target/layout.ts). */
  stateDir: string;
  /** The environments the owner-signed enrolment names: the only ones this target serves. */
  environments: readonly string[];
  /** Release directories kept per application, the current one included. Default 5. */
  keep?: number;
  /** Per script. Default 10 minutes. */
  scriptTimeoutMs?: number;
  now?: () => number;
};

/**
 * The target role (DESIGN §5): install one release for one deployment, or refuse and say why.
 *   1. serve only environments the owner-signed enrolment names (a refusal is logged for audit),
 *      and only requests the backend still waits for (target/request-expiry.ts);
 *   2. verify the pusher's key (the owner vouched for it) and manifest; secure: key server and grant (it names this target) first;
 *   3. refuse a grant already used by another request (a replayed old deployment), else record it;
 *   4. download and verify (secure: decrypt) into staging; 5. install (target/install.ts);
 *   6. report the release now current and the tail of the scripts' output.
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
    if (requestExpired(request.expiresAt, now())) {
      log.warn('audit: expired deployment request refused', { ...ids, expiresAt: request.expiresAt });
      throw new RequestRefused('RequestExpired', `the request expired at ${request.expiresAt}: the backend no longer waits for it; nothing was installed`);
    }
    const manifest = request.secure ? verifySecureRequest(request, context, now()) : verifyPlainRequest(request, context);
    usedGrants ??= await openUsedGrants(join(options.stateDir, 'used-grants.json'), now);
    const earlier = usedGrants.usedByOther(request.deploymentId, request.requestId);
    if (earlier) {
      log.warn('audit: replayed deployment refused', { ...ids, earlierRequestId: earlier });
      throw new RequestRefused('GrantReplayed', `deployment ${request.deploymentId} was already delivered (request ${earlier}): a replay is refused; nothing was installed`);
    }
    await usedGrants.use(request.deploymentId, request.requestId);

    const layout = appLayout(options.stateDir, request.appId);
    await prepareLayout(layout);
    await emptyDir(layout.staging); // leftovers of a run that died: never installed
    const archive = join(layout.staging, `${request.deploymentId}.tar.gz`);
    try {
      if (request.secure) await fetchSecureRelease(request, manifest, archive, context);
      else await fetchPlainRelease(request, manifest, archive, context);
      log.debug(request.secure ? 'release decrypted' : 'release downloaded', ids);
      const installed = await installRelease({
        layout,
        archive,
        name: releaseDirName(now(), request.deploymentId),
        variables: request.variables,
        info: { appName: request.appName, releaseVersion: request.releaseVersion, environmentName: request.environmentName, deploymentId: request.deploymentId },
        keep: options.keep ?? 5,
        scriptTimeoutMs: options.scriptTimeoutMs ?? 600_000,
      });
      log.info('release installed', { ...ids, current: installed.current, pruned: installed.pruned.length });
      return { deploymentId: request.deploymentId, releaseId: request.releaseId, current: installed.current, output: installed.output };
    } finally {
      await emptyDir(layout.staging);
    }
  };

  return { 'deploy-release': deployRelease };
};
