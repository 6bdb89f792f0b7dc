import type { z } from 'zod';
import type { approveInput, createDeploymentInput, declineInput } from '#shared/protocol/deployments.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { DeploymentStore, StoredDeployment, Workflow } from '#shared/ports/deployment-store.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { Ids } from '#shared/ports/ids.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import type { ReleaseStore } from '#shared/ports/release-store.ts';
import { isActive } from '../accounts/model.ts';
import type { Act } from '../access/act.ts';
import type { Actor } from '../access/actor.ts';
import type { Action } from '../access/policy.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import type { AuditEntry } from '../audit/chain.ts';
import { ConflictError, DomainError, NotFoundError, ValidationError } from '../errors.ts';
import type { Deployment } from './model.ts';
import type { SignedDecisions } from './signed-decisions.ts';
import { applyAction, type DeploymentAction, type DeploymentActor, type Decision } from './transitions.ts';
import { deploymentView } from './view.ts';

const MAX_WRITE_ATTEMPTS = 10;

type Deps = {
  directory: Pick<DirectoryStore, 'getApp' | 'getEnvironment' | 'getGroup' | 'getAccount' | 'getUser'>;
  releases: Pick<ReleaseStore, 'getRelease'>;
  deployments: DeploymentStore;
  workflow: Workflow;
  signed: SignedDecisions;
  act: Act;
  /** System transitions have no actor to `act` for: they are audited here. */
  audit: Pick<AuditTrail, 'appendOnce'>;
  clock: Clock;
  ids: Ids;
};

export const makeDeployments = ({ directory, releases, deployments, workflow, signed, act, audit, clock, ids }: Deps) => {
  const load = async (accountId: string, deploymentId: string) => {
    const deployment = await deployments.get(accountId, deploymentId);
    if (!deployment) throw new NotFoundError('No such deployment');
    return deployment;
  };

  /** Tells the waiting workflow, if it is waiting yet; if not, it finds the decision when it parks. */
  const notifyWorkflow = async (stored: StoredDeployment, decision: Decision | undefined) => {
    if (decision && stored.taskToken) await workflow.resume(stored.taskToken, { decision });
  };

  /**
   * One action on one deployment: read, decide with the pure state machine, write only if
   * nobody wrote meanwhile, and on a lost race read again and decide again. Both of two racing
   * approvals count; two racing decisions can never both move the deployment.
   */
  /** Who voted on a deployment still waiting but is no longer active: their votes stop counting. */
  /**
   * Who may approve at this moment: the members of the environment's approver groups now, not
   * when the deployment started (a person removed from a group no longer can, one added can).
   */
  const approversNow = async (accountId: string, environment: { approval: { approverGroups: readonly string[] } } | undefined) => {
    const groups = await Promise.all((environment?.approval.approverGroups ?? []).map((groupId) => directory.getGroup(accountId, groupId)));
    return [...new Set(groups.flatMap((group) => group?.members ?? []))].sort();
  };

  /** Votes that no longer count: their voter was disabled or removed, or is no longer an approver (nor the owner). */
  const votesNotCounting = async (deployment: Deployment) => {
    const voters = await Promise.all(deployment.votes.map((vote) => directory.getUser(deployment.accountId, vote.userId)));
    const counts = (i: number) => {
      const voter = voters[i];
      return !!voter && isActive(voter) && (voter.role === 'owner' || deployment.eligibleApprovers.includes(voter.userId));
    };
    return new Set(deployment.votes.filter((_vote, i) => !counts(i)).map((vote) => vote.userId));
  };

  const transition = async (accountId: string, deploymentId: string, action: DeploymentAction, actor: DeploymentActor | null) => {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt += 1) {
      const loaded = await load(accountId, deploymentId);
      // A person's decision is judged against the approvers as they are now.
      const current = actor ? { ...loaded, eligibleApprovers: await approversNow(accountId, await directory.getEnvironment(accountId, loaded.environmentId)) } : loaded;
      const notCounting = action.kind === 'approve' ? await votesNotCounting(current) : undefined;
      const { next, decision } = applyAction(current, action, actor, clock.now(), notCounting);
      const stored = await deployments.save(next, current.version);
      if (stored) {
        await notifyWorkflow(stored, decision);
        return stored;
      }
    }
    throw new ConflictError('The deployment is changing too fast: try again');
  };

  /**
   * A transition the workflow makes (finish, expire), audited once per deployment: the event says
   * what the stored deployment says, under a claim named after the action and the deployment, so
   * a retried task — which finds the deployment already moved and is refused — still writes the
   * event if the run before it stopped short of it, and never writes it twice.
   */
  const systemTransition = async (
    accountId: string,
    deploymentId: string,
    action: DeploymentAction,
    audited: { action: string; entry: (moved: Deployment) => Pick<AuditEntry, 'reason'> | undefined },
  ) => {
    let moved: StoredDeployment | undefined;
    let refusal: unknown;
    try {
      moved = await transition(accountId, deploymentId, action, null);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      refusal = error;
    }
    const current = moved ?? (await load(accountId, deploymentId));
    const entry = audited.entry(current);
    if (entry) {
      await audit.appendOnce(accountId, `${audited.action}#${deploymentId}`, {
        action: audited.action,
        actor: null,
        target: { type: 'deployment', id: deploymentId },
        outcome: 'succeeded',
        ...entry,
      });
    }
    if (!moved) throw refusal;
    return moved;
  };

  const decide = (verb: Action, action: (input: never) => DeploymentAction) => (actor: Actor, deploymentId: string, input?: unknown) =>
    act(actor, verb, { target: { type: 'deployment', id: deploymentId } }, async () => {
      const asked = action(input as never);
      if (asked.kind === 'approve' || asked.kind === 'decline') await checkSignedVote(actor, deploymentId, asked);
      return deploymentView(await transition(actor.accountId, deploymentId, asked, actor), clock.now());
    });

  /**
   * A vote carries the approver's signature where the environment requires it (its setting when
   * the deployment started); a signature given is checked either way, before anything is written.
   */
  const checkSignedVote = async (actor: Actor, deploymentId: string, asked: Extract<DeploymentAction, { kind: 'approve' | 'decline' }>) => {
    const deployment = await load(actor.accountId, deploymentId);
    if (asked.approval && asked.passkey) throw new ValidationError('approval: a decision is signed once, with your key or with a passkey, not both', 'approval');
    const decision = asked.kind === 'decline' ? 'decline' : asked.deploy ? 'approve-and-deploy' : 'approve';
    if (asked.approval) return signed.checkApproval(asked.approval, deployment, { userId: actor.userId, decision });
    if (asked.passkey) return signed.checkPasskeyApproval(asked.passkey, deployment, { userId: actor.userId, decision });
    if (deployment.policy.signedApprovals) {
      throw new ValidationError(`approval: ${deployment.environmentName} requires signed approvals: decide with \`latchkey approve ${deploymentId}\` (or decline), or with your passkey on the approval page`, 'approval');
    }
  };

  return {
    create: (actor: Actor, input: z.infer<typeof createDeploymentInput>) =>
      act(actor, 'deployments:create', { target: (d) => ({ type: 'deployment', id: d.deploymentId }) }, async () => {
        // 1. The application, its ready release and the environment, all of this account.
        // 2. Snapshot the approval policy, so later edits cannot move it, and who may approve now
        //    (whom the approval emails go to; each decision checks the approvers as they are then).
        // 3. Without approvals the deployment starts InProgress; with them, PendingApproval.
        // 4. Write it, then start its workflow, named after it (starting twice is one run).
        const [app, release, environment, account] = await Promise.all([
          directory.getApp(actor.accountId, input.appId),
          releases.getRelease(actor.accountId, input.releaseId),
          directory.getEnvironment(actor.accountId, input.environmentId),
          directory.getAccount(actor.accountId),
        ]);
        if (!app) throw new NotFoundError('No such application');
        if (!release || release.appId !== app.appId) throw new NotFoundError('No such release of this application');
        if (!environment) throw new NotFoundError('No such environment');
        if (!account) throw new NotFoundError('No such account');
        if (release.state !== 'ready' || !release.digest) throw new ConflictError('The release is not complete: finish its upload first');
        if (app.secure && !release.encrypted) throw new ValidationError('The application is secure: only encrypted releases can be deployed', 'releaseId');
        if (input.intent) {
          await signed.checkIntent(
            input.intent,
            { accountId: actor.accountId, userId: actor.userId, appId: app.appId, releaseId: release.releaseId, environmentId: environment.environmentId, manifest: release.manifest, windowHours: environment.approval.windowHours },
            clock.now(),
          );
        }

        const eligibleApprovers = await approversNow(actor.accountId, environment);
        const approvalRequired = environment.approval.enabled;
        const now = clock.now();
        const at = now.toISOString();
        const deployment: Deployment = {
          accountId: actor.accountId,
          // A signed intent names the deployment: the backend cannot mint another in its name.
          deploymentId: input.intent?.intent.deploymentId ?? ids.next('dep'),
          appId: app.appId,
          appName: app.name,
          releaseId: release.releaseId,
          releaseVersion: release.version,
          releaseDigest: release.digest,
          ...(release.signer ? { releaseSigner: release.signer } : {}),
          encrypted: release.encrypted,
          environmentId: environment.environmentId,
          environmentName: environment.name,
          deployerId: actor.userId,
          ownerId: account.ownerId,
          eligibleApprovers,
          policy: {
            approvalRequired,
            requiredApprovals: environment.approval.requiredApprovals,
            preventSelfApproval: environment.approval.preventSelfApproval,
            windowHours: environment.approval.windowHours,
            // An environment stored before signed approvals were the default has no `signed`: unsigned.
            signedApprovals: environment.approval.signed ?? false,
          },
          ...(input.intent ? { intent: input.intent } : {}),
          state: approvalRequired ? 'PendingApproval' : 'InProgress',
          votes: [],
          createdAt: at,
          updatedAt: at,
          expiresAt: new Date(now.getTime() + environment.approval.windowHours * 3_600_000).toISOString(),
          history: [{ at, from: null, to: approvalRequired ? 'PendingApproval' : 'InProgress', by: actor.userId }],
          version: 1,
        };
        await deployments.create(deployment);
        await workflow.start(deployment);
        return deploymentView(deployment, now);
      }),

    get: (actor: Actor, deploymentId: string) =>
      act(actor, 'deployments:read', { audited: false }, async () => deploymentView(await load(actor.accountId, deploymentId), clock.now())),

    list: (actor: Actor, page: PageRequest & { environmentId?: string | undefined }) =>
      act(actor, 'deployments:read', { audited: false }, async () => {
        const result = await deployments.list(actor.accountId, page, page.environmentId);
        const now = clock.now();
        return { ...result, items: result.items.map((d) => deploymentView(d, now)) };
      }),

    approve: decide('deployments:approve', (input: z.infer<typeof approveInput>) => ({
      kind: 'approve',
      deploy: input.deploy,
      ...(input.comment ? { comment: input.comment } : {}),
      ...(input.approval ? { approval: input.approval } : {}),
      ...(input.passkey ? { passkey: input.passkey } : {}),
    })),
    decline: decide('deployments:approve', (input: z.infer<typeof declineInput>) => ({
      kind: 'decline',
      message: input.message,
      ...(input.approval ? { approval: input.approval } : {}),
      ...(input.passkey ? { passkey: input.passkey } : {}),
    })),
    deploy: decide('deployments:approve', () => ({ kind: 'deploy' })),
    cancel: decide('deployments:cancel', () => ({ kind: 'cancel' })),

    /**
     * System transitions, driven by the workflow: no actor, no policy, still one conditional write,
     * and an audit event with the system as its actor (only the system reaches these states).
     */
    system: {
      expire: (accountId: string, deploymentId: string) =>
        systemTransition(accountId, deploymentId, { kind: 'expire' }, {
          action: 'deployments:expire',
          entry: (d) => (d.state === 'Expired' ? { reason: `Expired while ${d.history.at(-1)?.from ?? 'waiting'}: its window ended at ${d.expiresAt}` } : undefined),
        }),
      finish: (accountId: string, deploymentId: string, succeeded: boolean, reason?: string) =>
        systemTransition(accountId, deploymentId, { kind: 'finish', succeeded, ...(reason ? { reason } : {}) }, {
          action: 'deployments:finish',
          entry: (d) => (d.state === 'Succeeded' || d.state === 'Failed' ? { reason: `${d.state}${d.outcome?.reason ? `: ${d.outcome.reason}` : ''}`.slice(0, 1000) } : undefined),
        }),
      fail: (accountId: string, deploymentId: string, reason: string) =>
        systemTransition(accountId, deploymentId, { kind: 'fail', reason }, {
          action: 'deployments:finish',
          entry: (d) => (d.state === 'Failed' ? { reason: `Failed: ${reason}`.slice(0, 1000) } : undefined),
        }),
    },
  };
};

export type Deployments = ReturnType<typeof makeDeployments>;
