import { createHash } from 'node:crypto';
import { CryptoError } from '#shared/crypto/index.ts';
import { resultSchemas, type AgentRequest, type AgentRequestType } from '#shared/protocol/agent-messages.ts';
import { canonicalJson } from '#shared/protocol/canonical-json.ts';
import type { Journal, JournalEntry } from './journal.ts';
import { errorFields, type Logger } from './log.ts';
import type { MasterPins } from './master-pins.ts';
import { failed, type Outcome } from './replies.ts';
import { RequestRefused, type AgentIdentity, type Handler, type HandlerSet } from './handlers/types.ts';

/**
 * After this many deliveries an unexpected error is answered as a failure instead of being left
 * for redelivery: a bug must not keep a workflow waiting until the queue's retention runs out.
 */
export const MAX_ATTEMPTS = 5;

const CRYPTO_CODES: Record<string, string> = {
  'wrong-key': 'WrongKey',
  'wrong-context': 'WrongContext',
  malformed: 'MalformedWrap',
  'unsupported-version': 'UnsupportedVersion',
};

/**
 * The request without its delivery details: what "the same request" means for a reused id. A
 * resent deploy request carries a freshly presigned download URL, so the URL is delivery too:
 * the release it names is pinned by the manifest and grant, which stay in the digest.
 */
export const requestDigest = (request: AgentRequest) => {
  const { taskToken: _taskToken, sentAt: _sentAt, ...content } = request;
  const { url: _url, ...pinned } = content as typeof content & { url?: string };
  return createHash('sha256').update(canonicalJson(pinned)).digest('hex');
};

const outcomeOf = (entry: JournalEntry): Outcome =>
  entry.outcome === 'succeeded' ? { outcome: 'succeeded', result: entry.result ?? {} } : failed(entry.error?.code ?? 'Failed', entry.error?.message ?? '');

export type RequestProcessor = (request: AgentRequest, receiveCount: number) => Promise<Outcome>;

/**
 * Turns a valid request into its outcome, exactly once per request id:
 *   1. refuse a request for another account;
 *   2. answer a request id already in the journal from the journal (same content only);
 *   3. run the role's handler; a refusal or crypto failure is a failed outcome; the owner
 *      statements it saw are pinned (statements.json) either way;
 *   4. journal the outcome (fsynced) before anyone sees it.
 * Anything else thrown is transient: the message stays on the queue and comes back.
 */
export const createRequestProcessor =
  (deps: { self: AgentIdentity; handlers: HandlerSet; journal: Journal; masters: MasterPins; log: Logger; now?: () => number }): RequestProcessor =>
  async (request, receiveCount) => {
    const { self, journal, log } = deps;
    const ids = { requestId: request.requestId, type: request.type };
    if (request.accountId !== self.accountId) return failed('WrongAccount', `request ${request.requestId} is for another account`);

    const digest = requestDigest(request);
    const done = journal.get(request.requestId);
    if (done) {
      if (done.digest !== digest) return failed('RequestIdReused', `request id ${request.requestId} was already used for another request`);
      log.info('request already answered; sending the same answer', ids);
      return outcomeOf(done);
    }

    const handler = deps.handlers[request.type] as Handler<AgentRequestType> | undefined;
    let outcome: Outcome;
    if (!handler) {
      outcome = failed('UnsupportedRequest', `a ${self.role} does not handle ${request.type}`);
    } else {
      try {
        const result = await handler(request as never, {
          self,
          log,
          masters: deps.masters,
          mintedVersion: (version) => journal.mintedVersion(version)?.requestId,
        });
        // A result the backend would reject is a bug here, not something to send.
        outcome = { outcome: 'succeeded', result: resultSchemas[request.type].parse(result) };
        await self.statements.flush();
      } catch (error) {
        if (error instanceof RequestRefused) {
          // A refusal may rest on a statement seen in this very request (a removal): pin it first.
          await self.statements.flush();
          outcome = failed(error.code, error.message);
        } else if (error instanceof CryptoError) {
          outcome = failed(CRYPTO_CODES[error.reason] ?? 'CryptoError', `${request.type} ${request.requestId}: ${error.message}`);
        } else if (receiveCount >= MAX_ATTEMPTS) {
          log.error('request failed on its last attempt', { ...ids, receiveCount, ...errorFields(error) });
          outcome = failed('Internal', `the agent could not handle request ${request.requestId}`);
        } else {
          throw error;
        }
      }
    }

    await journal.record({
      requestId: request.requestId,
      type: request.type,
      digest,
      at: new Date((deps.now ?? Date.now)()).toISOString(),
      ...(request.type === 'create-master-key' ? { version: request.version } : {}),
      ...outcome,
    });
    return outcome;
  };
