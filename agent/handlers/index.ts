import { deployGrantHandlers } from './deploy-grant.ts';
import { keyServerHandlers } from './key-server.ts';
import { statementHandlers } from './statements.ts';
import { targetHandlers, type TargetOptions } from './target.ts';
import type { HandlerSet } from './types.ts';

/**
 * Requests each agent answers, from its owner-signed enrolment: a key server answers the key
 * requests; a target installs releases for the environments it names; every agent learns the
 * owner's statements it is sent. A key server whose
 * enrolment names environments is a target for them too (the seeds' key servers also deploy),
 * given the target options, which only an agent with release isolation in place has (run.ts).
 */
export const handlersFor = (role: 'keyserver' | 'target', stateDir: string, target?: TargetOptions): HandlerSet => {
  const installs = target && target.environments.length > 0 ? targetHandlers(target) : {};
  return role === 'keyserver' ? { ...keyServerHandlers, ...deployGrantHandlers(stateDir), ...installs, ...statementHandlers } : { ...installs, ...statementHandlers };
};
