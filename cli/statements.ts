import { canonicalJson } from '#shared/protocol/canonical-json.ts';
import {
  signedStatementOf,
  signStatement,
  StatementError,
  subjectOf,
  verifyStatement,
  type SignedStatement,
  type StatementKind,
  type StatementOf,
  type StatementPins,
} from '#shared/protocol/statements.ts';
import { checkInput, type ApiClient } from './api-client.ts';
import type { Context } from './context.ts';
import { RefusedError } from './errors.ts';
import { fingerprintOf, loadOwnerSigningKey, type Me } from './keys.ts';
import type { Output } from './output.ts';
import { pinStatements, readStatementPins } from './statement-pins.ts';

/**
 * Signing and recording the owner's statements (docs/trust.md), the one way every command that
 * decides something about a person, an environment, an application or an agent does it:
 *
 *   1. the owner key must be on this machine (nothing is asked of the API before);
 *   2. the newest statement about the subject that the API shows must be the owner's and not
 *      older than the version this CLI pinned for it: a backend that hides or rolls back a
 *      decision is refused before anything is signed;
 *   3. the next version is built from it, and its names and ids are shown;
 *   4. it is signed with the owner key and recorded (PUT /statements), and the API must answer
 *      with exactly what was signed;
 *   5. it is pinned, so this CLI never again accepts an older one.
 * A statement whose content would not change is not signed again: the newest one stands.
 */

/** What a caller decides: the statement without its envelope (version, time, account, kind). */
export type StatementContent<K extends StatementKind> = Omit<StatementOf<K>, 'v' | 'accountId' | 'kind' | 'version' | 'issuedAt'>;

const contentOf = (s: StatementOf<StatementKind>) => {
  const { version: _version, issuedAt: _issuedAt, ...content } = s;
  return canonicalJson(content);
};

const describeSubject = (kind: StatementKind, subject: string) => `the ${kind} statement for ${subject}`;

/**
 * The newest statement about `subject` as the API shows it, checked under the owner key and the
 * pins; undefined when there is none and none was pinned. Refuses a forged, misplaced or
 * rolled-back one, and a missing one that this CLI has seen before.
 */
export const newestStatement = async <K extends StatementKind>(
  client: ApiClient,
  expected: { kind: K; accountId: string; subject: string; ownerPublicKey: Uint8Array; pins: StatementPins },
): Promise<SignedStatement<K> | undefined> => {
  const { kind, accountId, subject, ownerPublicKey, pins } = expected;
  const { items } = await client.call('GET /statements', { query: { kind } });
  const about = items.filter((item) => item.statement.kind === kind && subjectOf(item.statement) === subject);
  const pin = pins[`${kind}:${subject}`];
  if (about.length === 0) {
    if (pin !== undefined) {
      throw new RefusedError(`The API shows no ${kind} statement for ${subject}, but this CLI has seen version ${pin}: nothing was signed`, {
        hint: 'A backend that hides the owner’s decisions is not to be trusted with this one. Report it.',
      });
    }
    return undefined;
  }
  const newest = about.reduce((a, b) => (b.statement.version > a.statement.version ? b : a));
  try {
    const statement = verifyStatement(ownerPublicKey, newest, { kind, accountId, subject, pinned: pin });
    return { statement, signature: newest.signature };
  } catch (error) {
    if (!(error instanceof StatementError)) throw error;
    throw new RefusedError(`The API shows ${describeSubject(kind, subject)} that this CLI refuses: ${error.message}; nothing was signed`, {
      hint: error.code === 'RolledBack' ? 'The backend shows an older decision than one already seen here. Report it.' : 'Report it: the owner key signed no such statement.',
    });
  }
};

export type Recorded<K extends StatementKind> = {
  signed: SignedStatement<K>;
  /** The statement it replaced, if there was one. */
  previous?: StatementOf<K>;
  /** True when the newest statement already said this, so nothing was signed. */
  unchanged: boolean;
};

/**
 * Signs and records the next statement about a subject (steps above). `build` gets the newest
 * statement on record (undefined for a first one) and answers the content of the next;
 * `describe` names what is about to be signed, for the person to read before it is.
 */
export const signAndRecord = async <K extends StatementKind>(
  ctx: Context,
  client: ApiClient,
  me: Me,
  out: Output,
  request: {
    kind: K;
    subject: string;
    build: (previous: StatementOf<K> | undefined) => StatementContent<K>;
    describe: (next: StatementOf<K>) => string[];
    now?: () => Date;
  },
): Promise<Recorded<K>> => {
  const { kind, subject } = request;
  const owner = await loadOwnerSigningKey(ctx, me);
  const pins = await readStatementPins(ctx.configPath, me.accountId);
  const newest = await newestStatement(client, { kind, accountId: me.accountId, subject, ownerPublicKey: owner.publicKey, pins });
  const previous = newest?.statement;
  const version = Math.max(previous?.version ?? 0, pins[`${kind}:${subject}`] ?? 0) + 1;
  const next = checkInput(signedStatementOf(kind).shape.statement, {
    ...request.build(previous),
    v: 1,
    accountId: me.accountId,
    kind,
    version,
    issuedAt: (request.now ?? (() => new Date()))().toISOString(),
  }) as StatementOf<K>;
  if (subjectOf(next) !== subject) throw new Error(`a ${kind} statement built for ${subject} names ${subjectOf(next)}`);
  if (newest && contentOf(newest.statement) === contentOf(next)) {
    await pinStatements(ctx.configPath, me.accountId, [newest.statement]);
    return { signed: newest, previous: newest.statement, unchanged: true };
  }

  out.note([`Signing version ${version} of ${describeSubject(kind, subject)} with the owner key ${fingerprintOf(owner.publicKey)}:`, ...request.describe(next).map((line) => `  ${line}`)].join('\n'));
  const signed = signStatement(owner.privateKey, next) as SignedStatement<K>;
  const answer = await client.call('PUT /statements', { body: signed });
  if (canonicalJson(answer.statement) !== canonicalJson(signed.statement) || answer.signature !== signed.signature) {
    throw new RefusedError(`The API recorded ${describeSubject(kind, subject)} other than the one signed`, {
      hint: 'Agents check what the owner signed, not what the API says; report this: it should never happen.',
    });
  }
  await pinStatements(ctx.configPath, me.accountId, [signed.statement]);
  return { signed, ...(previous ? { previous } : {}), unchanged: false };
};
