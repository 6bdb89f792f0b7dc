import type { PasskeyApproval, SignedApproval } from '#shared/protocol/deployment-evidence.ts';
import type { Role } from '../accounts/model.ts';
import { ConflictError, ForbiddenError, ValidationError } from '../errors.ts';
import { terminalStates, type Deployment, type DeploymentState } from './model.ts';

export type DeploymentActor = { userId: string; role: Role };

export type DeploymentAction =
  | { kind: 'approve'; deploy: boolean; comment?: string; approval?: SignedApproval; passkey?: PasskeyApproval }
  | { kind: 'decline'; message: string; approval?: SignedApproval; passkey?: PasskeyApproval }
  | { kind: 'deploy' }
  | { kind: 'cancel' }
  | { kind: 'expire' }
  | { kind: 'finish'; succeeded: boolean; reason?: string }
  /** The workflow itself failed (a step that kept failing): any state still open ends Failed, with why. */
  | { kind: 'fail'; reason: string };

/** What the waiting workflow is told, if anything: the decision that ends its current wait. */
export type Decision = 'approved' | 'deploy' | 'declined' | 'canceled';

export type Outcome = { next: Deployment; decision?: Decision };

const SYSTEM = 'system';

/** Expiry is checked on read: a wait whose window has passed counts as expired even before the workflow says so. */
export const isExpired = (deployment: Deployment, now: Date): boolean =>
  (deployment.state === 'PendingApproval' || deployment.state === 'Approved') && now.toISOString() >= deployment.expiresAt;

export const effectiveState = (deployment: Deployment, now: Date): DeploymentState =>
  isExpired(deployment, now) ? 'Expired' : deployment.state;

export const isEligibleApprover = (deployment: Deployment, actor: DeploymentActor): boolean =>
  actor.role === 'owner' || deployment.eligibleApprovers.includes(actor.userId);

const move = (deployment: Deployment, to: DeploymentState, by: string, at: string, changes: Partial<Deployment> = {}): Deployment => ({
  ...deployment,
  ...changes,
  state: to,
  updatedAt: at,
  version: deployment.version + 1,
  history: to === deployment.state ? deployment.history : [...deployment.history, { at, from: deployment.state, to, by }],
});

const expectState = (deployment: Deployment, now: Date, allowed: DeploymentState[], action: string) => {
  const state = effectiveState(deployment, now);
  if (!allowed.includes(state)) {
    const why = state === 'Expired' ? 'its approval window has passed' : `it is ${state}`;
    throw new ConflictError(`Cannot ${action} this deployment: ${why}`);
  }
};

/**
 * The approval state machine of DESIGN §4, as a pure function: the current deployment, an
 * action and who takes it, in; the next deployment and the decision for the workflow, out —
 * or a named error. The store writes `next` only if the deployment is still at the version
 * this was computed from, so two racing actions can never both move it.
 */
export const applyAction = (
  deployment: Deployment,
  action: DeploymentAction,
  actor: DeploymentActor | null,
  now: Date,
  /** Voters whose votes no longer count towards the quorum: disabled, removed, or no longer approvers. */
  votesNotCounting: ReadonlySet<string> = new Set(),
): Outcome => {
  const at = now.toISOString();
  const by = actor?.userId ?? SYSTEM;

  switch (action.kind) {
    case 'approve': {
      expectState(deployment, now, ['PendingApproval'], 'approve');
      if (!actor || !isEligibleApprover(deployment, actor)) throw new ForbiddenError('You are not an approver of this environment');
      if (deployment.policy.preventSelfApproval && actor.userId === deployment.deployerId) {
        throw new ForbiddenError('You started this deployment, so someone else must approve it');
      }
      if (deployment.votes.some((vote) => vote.userId === actor.userId)) throw new ConflictError('You have already approved this deployment');
      const votes = [
        ...deployment.votes,
        { userId: actor.userId, at, deploy: action.deploy, ...(action.comment ? { comment: action.comment } : {}), ...(action.approval ? { approval: action.approval } : {}), ...(action.passkey ? { passkey: action.passkey } : {}) },
      ];
      const counted = votes.filter((vote) => !votesNotCounting.has(vote.userId));
      if (counted.length < deployment.policy.requiredApprovals) return { next: move(deployment, 'PendingApproval', by, at, { votes }) };
      // The quorum is reached: deploy now if any approver counted asked for it, else wait for Deploy.
      const deployNow = counted.some((vote) => vote.deploy);
      return deployNow
        ? { next: move(deployment, 'InProgress', by, at, { votes }), decision: 'deploy' }
        : { next: move(deployment, 'Approved', by, at, { votes }), decision: 'approved' };
    }
    case 'decline': {
      expectState(deployment, now, ['PendingApproval'], 'decline');
      if (!actor || !isEligibleApprover(deployment, actor)) throw new ForbiddenError('You are not an approver of this environment');
      if (deployment.policy.preventSelfApproval && actor.userId === deployment.deployerId) {
        throw new ForbiddenError('You started this deployment: cancel it instead of declining it');
      }
      if (!action.message.trim()) throw new ValidationError('message: a decline needs a message for everyone to read', 'message');
      const declined = { userId: actor.userId, at, message: action.message, ...(action.approval ? { approval: action.approval } : {}), ...(action.passkey ? { passkey: action.passkey } : {}) };
      return { next: move(deployment, 'Declined', by, at, { declined }), decision: 'declined' };
    }
    case 'deploy': {
      expectState(deployment, now, ['Approved'], 'deploy');
      if (!actor || !isEligibleApprover(deployment, actor)) throw new ForbiddenError('Only an approver or the owner can deploy an approved deployment');
      return { next: move(deployment, 'InProgress', by, at), decision: 'deploy' };
    }
    case 'cancel': {
      const state = effectiveState(deployment, now);
      expectState(deployment, now, ['PendingApproval', 'Approved'], 'cancel');
      const isDeployer = actor?.userId === deployment.deployerId;
      const allowed =
        !!actor &&
        (actor.role === 'owner' || isDeployer || (state === 'Approved' && isEligibleApprover(deployment, actor)));
      if (!allowed) throw new ForbiddenError('Only the deployer, the owner or (once approved) an approver can cancel this deployment');
      return { next: move(deployment, 'Canceled', by, at, { canceled: { userId: actor.userId, at } }), decision: 'canceled' };
    }
    case 'expire': {
      if (deployment.state !== 'PendingApproval' && deployment.state !== 'Approved') {
        throw new ConflictError(`Cannot expire this deployment: it is ${deployment.state}`);
      }
      return { next: move(deployment, 'Expired', by, at) };
    }
    case 'finish': {
      if (deployment.state !== 'InProgress') throw new ConflictError(`Cannot finish this deployment: it is ${deployment.state}`);
      const to = action.succeeded ? 'Succeeded' : 'Failed';
      return { next: move(deployment, to, by, at, { outcome: { at, ...(action.reason ? { reason: action.reason } : {}) } }) };
    }
    case 'fail': {
      if (isTerminal(deployment.state)) throw new ConflictError(`Cannot fail this deployment: it is ${deployment.state}`);
      return { next: move(deployment, 'Failed', by, at, { outcome: { at, reason: action.reason } }) };
    }
  }
};

export const isTerminal = (state: DeploymentState) => terminalStates.has(state);
