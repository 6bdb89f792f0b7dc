import { signSessionChallenge } from '#shared/protocol/trust.ts';
import type { AgentApi, Session } from './api.ts';
import { TrustError } from './errors.ts';
import type { Logger } from './log.ts';

/**
 * Short-lived queue credentials, obtained by signing a fresh timestamp with the agent's key
 * (POST /agents/{id}/session) and renewed before they expire. Concurrent callers share one
 * renewal, so a heartbeat and a poll never open two sessions at once.
 */
export interface SessionSource {
  current(): Promise<Session>;
  /** Forget the session (the queue said the credentials are no good), so the next call renews. */
  invalidate(): void;
}

/** Renew at most 5 minutes, and at least half the lifetime, before the credentials expire. */
const MAX_MARGIN_MS = 5 * 60_000;

export const createSessionSource = (deps: {
  api: Pick<AgentApi, 'session'>;
  agentId: string;
  signingSeed: Uint8Array;
  log: Logger;
  now?: () => number;
}): SessionSource => {
  const now = deps.now ?? Date.now;
  let held: { session: Session; renewAt: number } | undefined;
  let renewing: Promise<Session> | undefined;

  const open = async (): Promise<Session> => {
    const at = new Date(now()).toISOString();
    const session = await deps.api.session(deps.agentId, { at, signature: signSessionChallenge(deps.signingSeed, deps.agentId, at) });
    if (session.agentId !== deps.agentId) throw new TrustError(`the backend opened a session for ${session.agentId}, not for ${deps.agentId}`);
    const issued = now();
    const expires = Date.parse(session.credentials.expiration);
    const margin = Math.min(MAX_MARGIN_MS, Math.max(0, (expires - issued) / 2));
    held = { session, renewAt: expires - margin };
    deps.log.info('session opened', { agentId: deps.agentId, expiresAt: session.credentials.expiration });
    return session;
  };

  return {
    current() {
      if (held && now() < held.renewAt) return Promise.resolve(held.session);
      renewing ??= open().finally(() => {
        renewing = undefined;
      });
      return renewing;
    },
    invalidate() {
      held = undefined;
    },
  };
};
