import { createHash } from 'node:crypto';
import type { AuditTrail } from '#shared/domain/audit/audit-trail.ts';
import { agentRecordOf, newRequestId } from '#shared/domain/agents/agents.ts';
import type { MasterKeys } from '#shared/domain/agents/master-keys.ts';
import type { Agent, AgentRequestRecord } from '#shared/domain/agents/model.ts';
import type { AgentQueues, AgentStore, KeyStore } from '#shared/ports/agent-store.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { DeploymentStore, Workflow } from '#shared/ports/deployment-store.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { ReleaseObjects, ReleaseStore } from '#shared/ports/release-store.ts';
import { deploy, type AgentReply, type AgentRequest } from '#shared/protocol/agent-messages.ts';
import { canonicalJson } from '#shared/protocol/canonical-json.ts';
import { MAX_DEPLOY_TARGETS } from '#shared/protocol/deploy-messages.ts';
import type { EvidenceOf } from './evidence-of.ts';
import type { DeployPlan, DeployRuns, DeploymentKeys, GrantOutcome, TargetReport } from './ports.ts';

export type { DeployPlan, GrantOutcome } from './ports.ts';

type Deps = {
  deployments: Pick<DeploymentStore, 'get' | 'markDeployStarted'>;
  directory: Pick<DirectoryStore, 'getEnvironment' | 'getUser'>;
  releases: Pick<ReleaseStore, 'getRelease'>;
  agents: Pick<AgentStore, 'agentsWithRole' | 'getAgent' | 'putRequest' | 'closeRequest' | 'markUnresponsive'>;
  keys: Pick<KeyStore, 'getWrappedReleaseKey'>;
  masterKeys: Pick<MasterKeys, 'onlineHolders'>;
  queues: Pick<AgentQueues, 'send'>;
  objects: Pick<ReleaseObjects, 'presignGet'>;
  runs: DeployRuns;
  deploymentKeys: DeploymentKeys;
  workflow: Pick<Workflow, 'resume' | 'heartbeat'>;
  evidence: EvidenceOf;
  audit: Pick<AuditTrail, 'append' | 'appendOnce'>;
  clock: Clock;
  settings: { grantTimeoutSeconds: number; ackTimeoutSeconds: number; targetTimeoutSeconds: number };
};

export type DeployRef = { accountId: string; deploymentId: string };

/** What the execution holds when the deploy step settles. */
export type SettleInput = DeployRef & {
  execution: { grant?: { failed?: string | undefined } | null | undefined; grantError?: { Error?: string | undefined; Cause?: string | undefined } | undefined };
};

/** One id per deployment and target: a retried dispatch sends the same request, not a second one. */
export const targetRequestId = (deploymentId: string, agentId: string) =>
  `req_${createHash('sha256').update(`deploy-release\0${deploymentId}\0${agentId}`).digest('hex').slice(0, 32)}`;

const label = (agent: Pick<Agent, 'agentId' | 'name'> | undefined, agentId: string) => (agent?.name ? `${agent.name} (${agentId})` : agentId);

/** Failed on k of n: one line per target that failed or did not report, bounded for the outcome. */
export const summarizeReports = (
  targets: readonly string[],
  reports: Readonly<Record<string, TargetReport>>,
  names: Readonly<Record<string, string>>,
  timeoutSeconds: number,
): { succeeded: boolean; reason: string } => {
  if (targets.length === 0) return { succeeded: false, reason: 'No target received the deployment' };
  const problems = targets.flatMap((agentId) => {
    const report = reports[agentId];
    const who = names[agentId] ?? agentId;
    if (!report) return [`${who}: did not report within ${timeoutSeconds} s`];
    return report.outcome === 'failed' ? [`${who}: ${report.code}: ${report.message}`] : [];
  });
  if (problems.length === 0) return { succeeded: true, reason: `Installed on ${targets.length} target${targets.length === 1 ? '' : 's'}` };
  return { succeeded: false, reason: `Failed on ${problems.length} of ${targets.length} targets. ${problems.join(' | ')}`.slice(0, 2000) };
};

export const makeDeploys = (deps: Deps) => {
  const { deployments, directory, releases, agents, keys, masterKeys, queues, objects, runs, workflow, clock, settings } = deps;

  /** The enrolled targets of an environment: targets naming it, and key servers that also serve it. */
  const environmentTargets = async (accountId: string, environmentId: string) => {
    const [targets, keyServers] = await Promise.all([agents.agentsWithRole(accountId, 'target'), agents.agentsWithRole(accountId, 'keyserver')]);
    return [...targets, ...keyServers].filter((agent) => agent.environments.includes(environmentId)).sort((a, b) => a.agentId.localeCompare(b.agentId));
  };

  /** Everything a deploy needs to exist; undefined parts are reported by `prepare`. */
  const load = async ({ accountId, deploymentId }: DeployRef) => {
    const deployment = await deployments.get(accountId, deploymentId);
    if (!deployment) throw new Error(`Deployment ${deploymentId} does not exist`);
    const [release, environment] = await Promise.all([releases.getRelease(accountId, deployment.releaseId), directory.getEnvironment(accountId, deployment.environmentId)]);
    if (!release || !environment) throw new Error(`Deployment ${deploymentId} names a release or environment that no longer exists`);
    return { deployment, release, environment };
  };

  /** The evidence agents act on, or the reason they would refuse it (evidence-of.ts). */
  const evidenceFor = (deployment: Awaited<ReturnType<typeof load>>['deployment'], release: Awaited<ReturnType<typeof load>>['release']) => deps.evidence.check(deployment, release, clock.now());

  const deployIds = (deployment: { appId: string; releaseId: string; environmentId: string; deploymentId: string }) => ({
    deploymentId: deployment.deploymentId,
    appId: deployment.appId,
    releaseId: deployment.releaseId,
    environmentId: deployment.environmentId,
  });

  /**
   * 1. Encrypted: the release key must be sealed, and an online key server must hold its master
   *    key version — else the release cannot be opened, by design; say so. Its manifest and the
   *    pusher's key must be there for targets to verify.
   * 2. The environment needs enrolled targets.
   * 3. Key servers and targets act only on complete evidence (docs/trust.md): checked here too, as
   *    they will check it, so a deployment they would refuse fails now and says why.
   */
  const plan = async (ref: DeployRef): Promise<DeployPlan> => {
    const fail = (reason: string): DeployPlan => ({ action: 'fail', reason });
    const { deployment, release, environment } = await load(ref);
    let keyServers: string[] = [];
    if (deployment.encrypted) {
      const wrapped = await keys.getWrappedReleaseKey(ref.accountId, deployment.releaseId);
      if (!wrapped) return fail(`Release ${deployment.releaseVersion} has no sealed key: it was never sealed by a key server`);
      const holders = await masterKeys.onlineHolders(ref.accountId, wrapped.version);
      if (holders.length === 0) return fail(`No online key server holds master key version ${wrapped.version}`);
      keyServers = holders.map((h) => h.agent.agentId);
    }
    const targets = await environmentTargets(ref.accountId, deployment.environmentId);
    if (targets.length === 0) return fail(`Environment ${environment.name} has no enrolled target: nothing to deploy to (enrol one with \`latchkey enrolments create --role target --env ${environment.name}\`)`);
    if (targets.length > MAX_DEPLOY_TARGETS) return fail(`Environment ${environment.name} has ${targets.length} targets; one deployment reaches at most ${MAX_DEPLOY_TARGETS}`);
    if (!release.manifest) return fail(`Release ${release.version} has no signed manifest: targets could not verify it`);
    const checked = await evidenceFor(deployment, release);
    if ('refused' in checked) return fail(checked.refused);
    if (!deployment.encrypted) return { action: 'dispatch', targetTimeoutSeconds: settings.targetTimeoutSeconds };
    return { action: 'grant', keyServers, ...settings };
  };

  /** Keeps the first grant outcome and ends the grant wait parked now with it (whoever comes second resumes with the same). */
  const settleGrant = async (ref: DeployRef, outcome: GrantOutcome) => {
    const kept = await runs.keepGrantOutcome(ref.accountId, ref.deploymentId, outcome);
    if (kept.taskToken) await workflow.resume(kept.taskToken, kept.outcome);
  };

  return {
    environmentTargets,

    /** The plan, made once per deployment: a repeat (the workflow run again from its start) gets the plan kept. */
    prepare: async (ref: DeployRef): Promise<DeployPlan> => {
      const kept = (await runs.get(ref.accountId, ref.deploymentId))?.plan;
      if (kept) return kept;
      // When the deploy step began; set once, so a concurrent first run leaves it as it is.
      await deployments.markDeployStarted(ref.accountId, ref.deploymentId, clock.now().toISOString());
      return runs.keepPlan(ref.accountId, ref.deploymentId, await plan(ref));
    },

    /**
     * ONE key-server request per deployment: to the next key server of the plan's random order
     * (the workflow asks again, `askNext`, when one did not answer in time); when none is left,
     * the wait ends with the failure. The wait's token is parked on the deployment, and the
     * reply resumes whichever token is parked then: a repeated task (`askNext` false) asks no
     * one again, it ends its wait with the outcome kept, or waits for the request already out.
     */
    requestGrant: async (input: DeployRef & { keyServers: string[]; taskToken: string; askNext: boolean }) => {
      const parked = await runs.parkGrantWait(input.accountId, input.deploymentId, input.taskToken);
      if (parked.outcome) {
        await workflow.resume(input.taskToken, parked.outcome);
        return { asked: undefined, reused: true };
      }
      if (!input.askNext && parked.attempts > 0) return { asked: undefined, waiting: true };
      const { deployment, release } = await load(input);
      const checked = await evidenceFor(deployment, release);
      if ('refused' in checked) {
        await settleGrant(input, { failed: checked.refused });
        return { asked: undefined };
      }
      const wrapped = await keys.getWrappedReleaseKey(input.accountId, deployment.releaseId);
      if (!wrapped) throw new Error(`Release ${deployment.releaseId} has no sealed key`);
      // The key server asked last did not take the request, or did not answer in time: passed
      // over by the next requests too, until its next heartbeat.
      const previous = input.askNext ? input.keyServers[parked.attempts - 1] : undefined;
      if (previous) await agents.markUnresponsive(input.accountId, previous, clock.now().toISOString());
      for (;;) {
        const requestId = newRequestId();
        const attempt = await runs.nextGrantAttempt(input.accountId, input.deploymentId, requestId);
        if (attempt > input.keyServers.length) {
          await settleGrant(input, {
            failed: `No key server issued the deployment grant: each had ${settings.ackTimeoutSeconds} s to take the request and ${settings.grantTimeoutSeconds} s to answer (asked ${input.keyServers.join(', ')})`,
          });
          return { asked: undefined };
        }
        const agentId = input.keyServers[attempt - 1]!;
        const holder = (await masterKeys.onlineHolders(input.accountId, wrapped.version)).find((h) => h.agent.agentId === agentId);
        if (!holder) continue; // gone offline since the plan: the next one
        const targets = await environmentTargets(input.accountId, deployment.environmentId);
        const now = clock.now();
        const request: AgentRequest = {
          type: 'issue-deployment-grant',
          requestId,
          accountId: input.accountId,
          taskToken: input.taskToken,
          sentAt: now.toISOString(),
          ...deployIds(deployment),
          version: wrapped.version,
          ...(await holder.copy()),
          wrappedReleaseKey: wrapped.wrappedReleaseKey,
          manifest: release.manifest!,
          evidence: checked.evidence,
          targets: targets.map(agentRecordOf),
          // Good while the targets may still install it, and a little longer for clocks.
          expiresAt: new Date(now.getTime() + (settings.targetTimeoutSeconds + 300) * 1000).toISOString(),
        };
        await runs.putTargetRequest(input.accountId, request.requestId, { deploymentId: input.deploymentId, agentId, purpose: 'grant' });
        // No task token on the record: the reply resumes the wait parked on the deployment (onDeployReply).
        await agents.putRequest({
          accountId: input.accountId,
          requestId: request.requestId,
          type: 'deploy',
          agentId,
          recipients: targets.map((t) => t.agentId),
          releaseId: deployment.releaseId,
          version: wrapped.version,
          state: 'pending',
          createdAt: request.sentAt,
        });
        await queues.send(holder.agent.queueUrl, request);
        return { asked: agentId, attempt };
      }
    },

    /**
     * The key server asked for the grant took the request, or is still working on it: the grant
     * wait is kept alive (its heartbeat timeout is how a key server that died is passed over in
     * seconds). Only the request sent last counts; a late acknowledgement of an earlier one does not.
     */
    onGrantAcknowledged: async (request: AgentRequestRecord) => {
      const ref = await runs.getTargetRequest(request.accountId, request.requestId);
      if (ref?.purpose !== 'grant' || ref.agentId !== request.agentId) return;
      const wait = await runs.grantWait(request.accountId, ref.deploymentId);
      if (wait?.taskToken && !wait.settled && wait.requestId === request.requestId) await workflow.heartbeat(wait.taskToken);
    },

    /**
     * Sends each target its deploy-release request, on its own queue, and parks the wait for
     * their reports: URL, manifest, variables and, for a secure release, what the key server made
     * for that target. A retried dispatch skips targets already asked.
     */
    dispatch: async (input: DeployRef & { grant?: GrantOutcome | null; targetTimeoutSeconds: number; taskToken: string }) => {
      const { deployment, release, environment } = await load(input);
      const checked = await evidenceFor(deployment, release);
      if ('refused' in checked) throw new Error(checked.refused);
      const targets = await environmentTargets(input.accountId, deployment.environmentId);
      let recipients = targets;
      let secure: ((agentId: string) => NonNullable<Extract<AgentRequest, { type: 'deploy-release' }>['secure']>) | undefined;
      let version = 0;
      if (deployment.encrypted) {
        const grant = input.grant;
        if (!grant || 'failed' in grant) throw new Error('A secure deployment reached dispatch without a grant');
        const result = deploy.deploymentGrant.parse(grant.result);
        const keyServer = await agents.getAgent(input.accountId, grant.agentId);
        if (!keyServer) throw new Error(`Key server ${grant.agentId} is not on record`);
        await deps.deploymentKeys.put({
          accountId: input.accountId,
          deploymentId: input.deploymentId,
          version: result.version,
          wrappedDeploymentKey: result.deploymentKeyUnderMaster,
          createdAt: clock.now().toISOString(),
        });
        // Only targets that are still enrolled and that the key server granted.
        const granted = new Map(result.grants.map((g) => [g.agentId, g]));
        recipients = targets.filter((t) => granted.has(t.agentId));
        version = result.version;
        secure = (agentId) => {
          const g = granted.get(agentId)!;
          return { keyServer: agentRecordOf(keyServer), keyList: result.keyList, wrappedDeploymentKey: g.wrappedDeploymentKey, grant: g.grant };
        };
      }
      // When the wait for reports ends: targets refuse the request after it. A retried dispatch
      // keeps the targets and expiry the first one recorded (a resent request is the same request).
      const expiresAt = new Date(clock.now().getTime() + input.targetTimeoutSeconds * 1000).toISOString();
      const started = await runs.start(input.accountId, input.deploymentId, { targets: recipients.map((t) => t.agentId), expiresAt }, input.taskToken);
      recipients = recipients.filter((t) => started.targets.includes(t.agentId));
      const { reports } = started;
      const url = await objects.presignGet(release.objectKey, input.targetTimeoutSeconds + 60);
      for (const target of recipients) {
        if (reports[target.agentId]) continue;
        const requestId = targetRequestId(input.deploymentId, target.agentId);
        // A repeat sends again to a target that has not reported (the same request id: the target
        // installs once), since what was on its queue may be lost (a local stack restarted).
        const first = await runs.putTargetRequest(input.accountId, requestId, { deploymentId: input.deploymentId, agentId: target.agentId });
        const request: AgentRequest = {
          type: 'deploy-release',
          requestId,
          accountId: input.accountId,
          sentAt: clock.now().toISOString(),
          ...deployIds(deployment),
          appName: deployment.appName,
          releaseVersion: deployment.releaseVersion,
          environmentName: environment.name,
          url,
          digest: release.digest!,
          manifest: release.manifest!,
          evidence: checked.evidence,
          ...(secure ? { secure: secure(target.agentId) } : {}),
          expiresAt: started.expiresAt,
        };
        if (first) {
          await agents.putRequest({
            accountId: input.accountId,
            requestId,
            type: 'deploy',
            agentId: target.agentId,
            releaseId: deployment.releaseId,
            version,
            state: 'pending',
            createdAt: request.sentAt,
          });
        }
        await queues.send(target.queueUrl, request);
      }
      // Every report in already (a retried dispatch): end the wait now.
      if (recipients.every((t) => reports[t.agentId])) await workflow.resume(input.taskToken, { reported: recipients.length });
      return { targets: recipients.length };
    },

    /**
     * A signed reply to a request of the deploy step (the consumer checked the signature and
     * that this agent was asked). The key server's grant, or its refusal, is kept once and ends
     * the grant wait parked now. A target's report is recorded once on the deployment; the last
     * report ends the wait parked now. A duplicate delivery writes nothing new; a report after
     * the deployment settled is refused. Every refusal — the key server's, a target's, a late
     * report — is audited once, whichever delivery of the reply gets there (appendOnce).
     */
    onDeployReply: async (request: AgentRequestRecord, reply: AgentReply) => {
      const ref = await runs.getTargetRequest(request.accountId, request.requestId);
      if (!ref || ref.agentId !== reply.agentId) return { recorded: false };
      const at = clock.now().toISOString();
      const refused = (once: string, action: string, reason: string) =>
        deps.audit.appendOnce(request.accountId, once, { action, actor: null, target: { type: 'deployment', id: ref.deploymentId }, outcome: 'refused', reason: reason.slice(0, 1000) });
      if (ref.purpose === 'grant') {
        const keyServer = label(await agents.getAgent(request.accountId, reply.agentId), reply.agentId);
        await settleGrant(
          { accountId: request.accountId, deploymentId: ref.deploymentId },
          reply.outcome === 'succeeded'
            ? { requestId: reply.requestId, agentId: reply.agentId, result: reply.result }
            : { failed: `Key server ${keyServer} refused the deployment grant: ${reply.error.code}: ${reply.error.message}`.slice(0, 2000) },
        );
        if (reply.outcome === 'failed') await refused(`grant-refused#${request.requestId}`, 'deployments:grant-refused', `${reply.agentId}: ${reply.error.code}: ${reply.error.message}`);
        await agents.closeRequest(request.accountId, request.requestId, reply.outcome === 'succeeded' ? 'done' : 'failed', at, reply.outcome === 'failed' ? reply.error.code : undefined);
        return { recorded: true };
      }
      let report: TargetReport;
      if (reply.outcome === 'succeeded') {
        const parsed = deploy.deployReport.safeParse(reply.result);
        report = parsed.success && parsed.data.deploymentId === ref.deploymentId
          ? { outcome: 'succeeded', at, current: parsed.data.current, output: parsed.data.output, ...(parsed.data.receipt ? { receipt: parsed.data.receipt } : {}) }
          : { outcome: 'failed', at, code: 'MalformedReport', message: 'the target’s report does not describe this deployment' };
      } else {
        report = { outcome: 'failed', at, code: reply.error.code, message: reply.error.message };
      }
      const after = await runs.recordReport(request.accountId, ref.deploymentId, reply.agentId, report);
      await agents.closeRequest(request.accountId, request.requestId, report.outcome === 'succeeded' ? 'done' : 'failed', at, report.outcome === 'failed' ? report.code : undefined);
      if (after.status === 'late') {
        // The deployment's outcome is decided: a report now would contradict it. Ids only; each
        // distinct late reply once (a redelivery is the same bytes).
        const once = `late-report#${createHash('sha256').update(canonicalJson(reply)).digest('hex').slice(0, 32)}`;
        await refused(once, 'deployments:late-report-refused', `${reply.agentId}: request ${request.requestId} reported ${report.outcome === 'failed' ? report.code : 'succeeded'} after the wait for reports ended`);
        return { recorded: false };
      }
      // The refusal kept for this target, audited once per request: by the delivery that recorded
      // it, or by a redelivery when the first one stopped before its audit event was written.
      const kept = after.status === 'recorded' ? report : after.report;
      if (kept?.outcome === 'failed') await refused(`target-refused#${request.requestId}`, 'deployments:target-refused', `${reply.agentId}: ${kept.code}: ${kept.message}`);
      if (after.status === 'duplicate') return { recorded: false };
      if (after.taskToken && after.targets.every((t) => after.reports[t])) await workflow.resume(after.taskToken, { reported: after.targets.length });
      return { recorded: true };
    },

    /** Succeeded, or Failed naming each target that failed or did not report, and why. */
    settle: async ({ accountId, deploymentId, execution }: SettleInput) => {
      if (execution.grant?.failed) return { succeeded: false, reason: execution.grant.failed };
      if (execution.grantError) {
        // The grant task's own failure (a key server's refusal comes as `grant.failed`), in Lambda's error shape.
        let detail = execution.grantError.Cause ?? '';
        try {
          detail = (JSON.parse(detail) as { errorMessage?: string }).errorMessage ?? detail;
        } catch {
          // not JSON: keep the text
        }
        return { succeeded: false, reason: `The deployment grant could not be requested: ${execution.grantError.Error ?? 'Error'}: ${detail}`.slice(0, 2000) };
      }
      // Settled first: a report arriving from now on is refused, not recorded beside this outcome.
      const run = await runs.settle(accountId, deploymentId, clock.now().toISOString());
      const targets = run?.targets ?? [];
      const names: Record<string, string> = {};
      for (const agentId of targets) names[agentId] = label(await agents.getAgent(accountId, agentId), agentId);
      return summarizeReports(targets, run?.reports ?? {}, names, settings.targetTimeoutSeconds);
    },
  };
};

export type Deploys = ReturnType<typeof makeDeploys>;
