import { createHash } from 'node:crypto';
import { z } from 'zod';
import { signWithLabel, verifyWithLabel } from '#shared/crypto/signatures.ts';
import { canonicalJson } from './canonical-json.ts';
import { accountId, appId, displayName, email, environmentId, isoTime, slugName, userId } from './common.ts';
import { passkeyCredential } from './passkeys.ts';
import { agentRole, fromB64, publicKey32, signature64, toB64 } from './trust.ts';

/**
 * The owner's statements (DESIGN §10; docs/trust.md): what the owner decided about a person, an
 * environment, an application or an agent, signed with the owner key on the owner's machine. Key
 * servers, targets and the CLI act on these, never on the backend's word. Each statement carries
 * a version per subject that only grows: whoever checks it pins the highest version it has seen
 * and refuses an older one, so a backend cannot roll a decision back (an approver removed, an
 * application made secure) by showing an earlier statement.
 *
 * Bytes signed: label ‖ canonical JSON of the statement (UTF-8), Ed25519 under the owner key; the
 * label names the kind, so one kind never verifies as another.
 */

const LABELS = {
  person: 'latchkey/statement/person/v1\0',
  environment: 'latchkey/statement/environment/v1\0',
  application: 'latchkey/statement/application/v1\0',
  agent: 'latchkey/statement/agent/v1\0',
} as const;
export type StatementKind = keyof typeof LABELS;
export const STATEMENT_KINDS = Object.keys(LABELS) as StatementKind[];

const base = {
  v: z.literal(1),
  accountId,
  /** Per subject, from 1; each new statement about the subject has a higher one. */
  version: z.number().int().min(1).max(1_000_000_000),
  issuedAt: isoTime,
};

export const personStatement = z.strictObject({
  ...base,
  kind: z.literal('person'),
  userId,
  name: displayName,
  email,
  role: z.enum(['owner', 'deployer', 'approver']),
  /** Only an active person's keys count: disabling or removing someone is a new statement. */
  status: z.enum(['active', 'disabled', 'removed']),
  /** The key the person signs releases, deployment intents and approvals with (Ed25519), once the owner vouches for it. */
  signingKey: publicKey32.optional(),
  /** The passkeys the owner vouched for, after comparing each one's fingerprint with the person (docs/trust.md). */
  passkeys: z.array(passkeyCredential).max(10).optional(),
});
export type PersonStatement = z.infer<typeof personStatement>;

export const variableName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a shell variable name');

export const environmentStatement = z.strictObject({
  ...base,
  kind: z.literal('environment'),
  environmentId,
  name: slugName,
  /** Who may start a deployment to it: anyone of these roles, and these people. */
  deployers: z.strictObject({ roles: z.array(z.enum(['owner', 'deployer'])).max(2), people: z.array(userId).max(200) }),
  approval: z.strictObject({
    required: z.boolean(),
    /** The people who may approve (the approver groups, resolved when the owner signed). */
    approvers: z.array(userId).max(200),
    /** How many distinct approvals a deployment needs. */
    count: z.number().int().min(1).max(20),
    /** Whoever started a deployment cannot count as one of its approvers. */
    preventSelfApproval: z.boolean(),
    /** The brief: "The Account Owner can both Deploy and Approve deployments". */
    ownerMayApprove: z.boolean(),
    windowHours: z.number().min(1 / 3600).max(24 * 30),
    /** Approvals must be signed by the approvers; otherwise they are the backend's word (email links). */
    signed: z.boolean(),
  }),
  variables: z.record(variableName, z.string().max(4096)),
  /** Whether targets send their scripts' output back in reports; otherwise it stays in their local log. */
  reportScriptOutput: z.boolean(),
});
export type EnvironmentStatement = z.infer<typeof environmentStatement>;

export const applicationStatement = z.strictObject({
  ...base,
  kind: z.literal('application'),
  appId,
  name: slugName,
  /** Once secure, never plain again: the CLI refuses to push it plain, targets refuse a plain release of it. */
  secure: z.boolean(),
});
export type ApplicationStatement = z.infer<typeof applicationStatement>;

export const agentStatement = z.strictObject({
  ...base,
  kind: z.literal('agent'),
  agentId: z.string().regex(/^agt_[0-9a-f]{32}$/),
  role: agentRole,
  environments: z.array(environmentId).max(50),
  /** The agent's public keys, compared by the owner with what the agent printed on its machine. */
  encryptionKey: publicKey32,
  signingKey: publicKey32,
  status: z.enum(['active', 'removed']),
});
export type AgentStatement = z.infer<typeof agentStatement>;

export const statement = z.discriminatedUnion('kind', [personStatement, environmentStatement, applicationStatement, agentStatement]);
export type Statement = z.infer<typeof statement>;
export type StatementOf<K extends StatementKind> = Extract<Statement, { kind: K }>;

/** A statement as it travels: the statement and the owner's signature over it. */
export const signedStatement = z.strictObject({ statement, signature: signature64 });
export type SignedStatement<K extends StatementKind = StatementKind> = { statement: StatementOf<K>; signature: string };
export const signedStatementOf = <K extends StatementKind>(kind: K) =>
  z.strictObject({ statement: { person: personStatement, environment: environmentStatement, application: applicationStatement, agent: agentStatement }[kind], signature: signature64 });

/** The id of what a statement is about. */
export const subjectOf = (s: Statement): string => {
  switch (s.kind) {
    case 'person':
      return s.userId;
    case 'environment':
      return s.environmentId;
    case 'application':
      return s.appId;
    case 'agent':
      return s.agentId;
  }
};

/** The key a version is pinned under: kind and subject. */
export const pinKey = (s: Statement) => `${s.kind}:${subjectOf(s)}`;

export const statementBytes = (s: Statement): Buffer => Buffer.from(canonicalJson(statement.parse(s)), 'utf8');

/** SHA-256 of label ‖ bytes, hex: how evidence and receipts name a statement. */
export const statementHash = (s: Statement): string => createHash('sha256').update(LABELS[s.kind], 'latin1').update(statementBytes(s)).digest('hex');

export const signStatement = <S extends Statement>(ownerSeed: Uint8Array, s: S): { statement: S; signature: string } => ({
  statement: s,
  signature: toB64(signWithLabel(ownerSeed, LABELS[s.kind], statementBytes(s))),
});

export class StatementError extends Error {
  constructor(
    readonly code: 'NotOwnerSigned' | 'WrongAccount' | 'WrongSubject' | 'WrongKind' | 'RolledBack' | 'Malformed',
    message: string,
  ) {
    super(message);
    this.name = 'StatementError';
  }
}

const describe = (s: Statement) => `the ${s.kind} statement for ${subjectOf(s)} (version ${s.version})`;

/**
 * Checks a statement as anyone who acts on it must: the owner signed it, it is of the kind and
 * account (and subject) expected, and it is not older than the newest version pinned for its
 * subject. Returns the statement; throws a StatementError saying which check failed.
 */
export const verifyStatement = <K extends StatementKind>(
  ownerPublicKey: Uint8Array,
  signed: { statement: unknown; signature: string },
  expected: { kind: K; accountId: string; subject?: string; pinned?: number | undefined },
): StatementOf<K> => {
  const parsed = statement.safeParse(signed.statement);
  if (!parsed.success) throw new StatementError('Malformed', `a ${expected.kind} statement is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const s = parsed.data;
  if (s.kind !== expected.kind) throw new StatementError('WrongKind', `expected a ${expected.kind} statement, got a ${s.kind} statement`);
  if (s.accountId !== expected.accountId) throw new StatementError('WrongAccount', `${describe(s)} is for another account`);
  if (expected.subject !== undefined && subjectOf(s) !== expected.subject) throw new StatementError('WrongSubject', `${describe(s)} is not about ${expected.subject}`);
  try {
    verifyWithLabel(ownerPublicKey, LABELS[s.kind], statementBytes(s), fromB64(signed.signature), `${s.kind} statement`);
  } catch {
    throw new StatementError('NotOwnerSigned', `${describe(s)} is not signed by the account owner key`);
  }
  if (expected.pinned !== undefined && s.version < expected.pinned) {
    throw new StatementError('RolledBack', `${describe(s)} is older than version ${expected.pinned}, already seen: a rolled-back decision is refused`);
  }
  return s as StatementOf<K>;
};

/** The highest version seen per subject (`pinKey`), as agents and the CLI keep it. */
export type StatementPins = Record<string, number>;

/** The pins after seeing `statements` (each already verified). */
export const pinned = (pins: StatementPins, statements: readonly Statement[]): StatementPins => {
  const next = { ...pins };
  for (const s of statements) next[pinKey(s)] = Math.max(next[pinKey(s)] ?? 0, s.version);
  return next;
};

// ---- the API's view (PUT /statements, GET /statements) ----

export const recordedStatement = z.object({ statement, signature: signature64, recordedAt: isoTime });
export const listStatementsQuery = z.strictObject({ kind: z.enum(['person', 'environment', 'application', 'agent']).optional() });
