import { ForbiddenError } from '../errors.ts';
import type { Actor } from './actor.ts';

/**
 * The one place that decides who may do what. Handlers and use cases ask it; nothing else
 * compares roles. Who may vote on, deploy or cancel one deployment also depends on the
 * deployment (group membership, who started it): the state machine decides that part
 * (shared/domain/deployments/transitions.ts); here a role only opens the door.
 */
export const actions = [
  'me:read',
  'users:create',
  'users:list',
  'tokens:create',
  'tokens:list',
  'tokens:revoke',
  'groups:create',
  'groups:list',
  'groups:manage-members',
  'environments:create',
  'environments:list',
  'environments:update',
  'apps:create',
  'apps:list',
  'apps:update',
  'enrolments:create',
  'audit:read',
  'releases:create',
  'releases:list',
  'deployments:create',
  'deployments:read',
  'deployments:approve',
  'deployments:cancel',
  'account:owner-key',
  'me:signing-key',
  'users:vouch-signing-key',
  'agents:list',
  'agents:remove',
  'statements:write',
  'statements:list',
  'users:set-status',
  'tokens:revoke-all',
  // Passkeys: only the owner sends a registration link and sees what was registered (they vouch).
  'users:passkey-link',
  'users:list-passkeys',
] as const;
export type Action = (typeof actions)[number];

const everyone: Action[] = ['me:read', 'tokens:create', 'tokens:list', 'tokens:revoke', 'environments:list', 'apps:list', 'groups:list', 'users:list', 'releases:list', 'deployments:read', 'deployments:cancel', 'me:signing-key', 'agents:list', 'statements:list'];

const grants: Record<Actor['role'], ReadonlySet<Action>> = {
  owner: new Set(actions),
  deployer: new Set([...everyone, 'releases:create', 'deployments:create', 'deployments:approve']),
  approver: new Set([...everyone, 'deployments:approve']),
};

/** Actions a non-owner may take only on what is their own (their tokens). */
const ownOnly: ReadonlySet<Action> = new Set(['tokens:revoke']);

export const isAllowed = (actor: Actor, action: Action, context: { ownedByActor?: boolean } = {}): boolean => {
  if (!grants[actor.role].has(action)) return false;
  if (actor.role !== 'owner' && ownOnly.has(action)) return context.ownedByActor === true;
  return true;
};

export const authorize = (actor: Actor, action: Action, context: { ownedByActor?: boolean } = {}): void => {
  if (!isAllowed(actor, action, context)) {
    throw new ForbiddenError(`A ${actor.role} may not ${action.replace(':', ' ')}`);
  }
};
