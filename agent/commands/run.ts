import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadAgentKeys } from '#shared/crypto/index.ts';
import { fromB64, verifyAgentProof } from '#shared/protocol/trust.ts';
import { ApiError, type AgentApi, type Session } from '../api.ts';
import { TrustError } from '../errors.ts';
import { handlersFor } from '../handlers/index.ts';
import { isolationFor } from '../isolation/check.ts';
import { openJournal } from '../journal.ts';
import { errorFields, type Logger } from '../log.ts';
import { openMasterPins } from '../master-pins.ts';
import { openStatementPins } from '../statement-pins.ts';
import { runLoop } from '../queue-loop.ts';
import { createRequestProcessor } from '../requests.ts';
import { createSessionSource, type SessionSource } from '../session.ts';
import { createSqsQueue } from '../sqs.ts';
import { readState, requireEnrolled, statePaths } from '../state.ts';

export interface RunOptions {
  state: string;
  once: boolean;
  heartbeatSeconds?: number | undefined;
  /** How long each latchkey.yml script may run before it is killed with its process group. Default 10 minutes. */
  scriptTimeoutSeconds?: number | undefined;
  /** Test-only (run --clock-skew): a shorter clock skew allowance than CLOCK_SKEW_MS for expired deploy requests. */
  clockSkewSeconds?: number | undefined;
}

/**
 * Waits for the first session: a backend that is down or restarting is waited for (with
 * backoff), a refusal (4xx: agent removed, clock far off) ends the agent with the reason.
 */
const firstSession = async (sessions: SessionSource, options: RunOptions, log: Logger, signal: AbortSignal): Promise<Session | undefined> => {
  for (let backoff = 1000; ; backoff = Math.min(backoff * 2, 60_000)) {
    try {
      return await sessions.current();
    } catch (error) {
      if (!(error instanceof ApiError) || !error.transient || options.once) throw error;
      log.warn('cannot open a session yet; retrying', { retryInMs: backoff, ...errorFields(error) });
      await sleep(backoff, undefined, { signal }).catch(() => {});
      if (signal.aborted) return undefined;
    }
  }
};

/**
 * `run`: 1. load state and keys (refusing unsafe files); an agent that installs releases checks
 * that release code runs apart from it (agent/isolation/), or refuses to start, saying why;
 * 2. open the journal and master pins; 3. open a session; 4. poll, answer and heartbeat until
 * SIGTERM/SIGINT (or once).
 */
export const run = async (options: RunOptions, deps: { api: (endpoint: string) => AgentApi; log: Logger; signal: AbortSignal }) => {
  const { log } = deps;
  const paths = statePaths(options.state);
  const state = requireEnrolled(await readState(options.state));
  const { enrolment } = state;
  const isolation = await isolationFor(state.install, enrolment, resolve(options.state));
  // Set once the session is open (below); the downloads a target makes are checked against it.
  let sessionOrigin: () => Promise<string | undefined> = async () => undefined;
  const handlers = handlersFor(
    enrolment.role,
    options.state,
    isolation && {
      stateDir: options.state,
      environments: enrolment.environments,
      isolation,
      releasesOrigin: () => sessionOrigin(),
      ...(options.scriptTimeoutSeconds ? { scriptTimeoutMs: options.scriptTimeoutSeconds * 1000 } : {}),
      ...(options.clockSkewSeconds ? { clockSkewMs: options.clockSkewSeconds * 1000 } : {}),
    },
  );
  if (isolation) log.info('release code runs as its own user', { releaseUser: isolation.user.name, uid: isolation.user.uid, releasesDir: isolation.releasesDir });

  const keys = await loadAgentKeys(paths.keys);
  const ownerKey = fromB64(state.ownerKey);
  // The stored proof must still be ours and still verify: catches a state file from another agent.
  const own = verifyAgentProof(ownerKey, enrolment.proof, { accountId: enrolment.accountId });
  if (own.agentId !== enrolment.agentId || !own.signingKey.equals(keys.signing.publicKey) || !own.encryptionKey.equals(keys.encryption.publicKey)) {
    throw new TrustError(`the enrolment in ${paths.state} is not for the keys in ${paths.keys}`);
  }

  const journal = await openJournal(paths.journal, { log });
  try {
    const masters = await openMasterPins(paths.masters);
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    deps.signal.addEventListener('abort', onAbort, { once: true });

    // A refused renewal mid-run (agent removed) stops the agent instead of retrying forever.
    let fatal: unknown;
    const inner = createSessionSource({ api: deps.api(state.endpoint), agentId: enrolment.agentId, signingSeed: keys.signing.privateKey, log });
    const sessions: SessionSource = {
      current: () =>
        inner.current().catch((error: unknown) => {
          if (error instanceof ApiError && !error.transient) {
            fatal = error;
            stop.abort();
          }
          throw error;
        }),
      invalidate: () => inner.invalidate(),
    };

    const session = await firstSession(sessions, options, log, stop.signal);
    if (!session) return;
    sessionOrigin = async () => (await sessions.current()).releasesOrigin;
    const queue = await createSqsQueue(sessions);
    const signer = { accountId: enrolment.accountId, agentId: enrolment.agentId, signingSeed: keys.signing.privateKey };
    const self = { accountId: enrolment.accountId, agentId: enrolment.agentId, role: enrolment.role, keys, ownerKey, statements: await openStatementPins(paths.statements) };
    log.info('agent running', { agentId: enrolment.agentId, role: enrolment.role, once: options.once });
    try {
      await runLoop({
        queue,
        process: createRequestProcessor({ self, handlers, journal, masters, log }),
        signer,
        log,
        heartbeatSeconds: Math.max(1, options.heartbeatSeconds ?? session.heartbeatSeconds),
        once: options.once,
        signal: stop.signal,
        onCredentialError: () => sessions.invalidate(),
      });
    } finally {
      queue.close?.();
    }
    deps.signal.removeEventListener('abort', onAbort);
    if (fatal) throw fatal;
    log.info('agent stopped', { agentId: enrolment.agentId });
  } finally {
    await journal.close();
    keys.encryption.privateKey.fill(0);
    keys.signing.privateKey.fill(0);
  }
};
