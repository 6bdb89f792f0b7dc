import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateAgentKeys, generateRawKeyPair, type AgentKeys, type RawKeyPair } from '#shared/crypto/index.ts';
import type { AgentRecord } from '#shared/protocol/agent-messages.ts';
import { signStatement, type AgentStatement } from '#shared/protocol/statements.ts';
import { agentIdFor, signBinding, signEnrolment, toB64, type AgentBinding, type EnrolmentStatement } from '#shared/protocol/trust.ts';
import { createLogger, type Logger } from '#agent/log.ts';
import { memoryStatementPins } from '#agent/statement-pins.ts';

export const hex32 = () => randomBytes(16).toString('hex');
export const newId = (prefix: string) => `${prefix}_${hex32()}`;

export const tempDir = () => mkdtemp(join(tmpdir(), 'latchkey-agent-'));

/** A logger whose lines a test can read back. */
export const memoryLog = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  return Object.assign(createLogger('debug', (line) => lines.push(line)), { lines });
};

export type PeerOptions = {
  role?: 'keyserver' | 'target';
  /** Sign the enrolment with this key instead of the real owner's. */
  enrolmentSigner?: RawKeyPair;
  /** Sign the binding with this key instead of the enrolment's token key. */
  bindingTokenSigner?: RawKeyPair;
  /**
   * The owner's agent statement confirming it: `false` for none (enrolled, never confirmed);
   * fields to change in it, or `signer` to sign it with another key than the owner's.
   */
  confirmed?: false | (Partial<AgentStatement> & { signer?: RawKeyPair });
};

/** The owner's agent statement for a record, as `latchkey agents confirm` signs it. */
export const agentStatementFor = (owner: RawKeyPair, record: Omit<AgentRecord, 'statement'>, changes: Partial<AgentStatement> & { signer?: RawKeyPair } = {}) => {
  const { signer, ...fields } = changes;
  const statement: AgentStatement = {
    v: 1,
    kind: 'agent',
    accountId: record.proof.statement.accountId,
    agentId: record.agentId,
    role: record.role,
    environments: record.proof.statement.environments,
    encryptionKey: record.encryptionKey,
    signingKey: record.signingKey,
    status: 'active',
    version: 1,
    issuedAt: new Date().toISOString(),
    ...fields,
  };
  return signStatement((signer ?? owner).privateKey, statement);
};

/** An agent the owner enrolled (or, with options, one that only claims to be). */
export const enrolledPeer = (owner: RawKeyPair, accountId: string, options: PeerOptions = {}) => {
  const role = options.role ?? 'keyserver';
  const keys: AgentKeys = generateAgentKeys();
  const token = generateRawKeyPair('ed25519');
  const statement: EnrolmentStatement = {
    v: 1,
    accountId,
    enrolmentId: newId('enr'),
    role,
    environments: role === 'target' ? [newId('env')] : [],
    expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    tokenPublicKey: toB64(token.publicKey),
  };
  const binding: AgentBinding = {
    v: 1,
    accountId,
    enrolmentId: statement.enrolmentId,
    agentId: agentIdFor(keys.signing.publicKey),
    role,
    encryptionKey: toB64(keys.encryption.publicKey),
    signingKey: toB64(keys.signing.publicKey),
    enrolledAt: new Date().toISOString(),
  };
  const unconfirmed: AgentRecord = {
    agentId: binding.agentId,
    role,
    encryptionKey: binding.encryptionKey,
    signingKey: binding.signingKey,
    proof: {
      statement,
      ownerSignature: signEnrolment((options.enrolmentSigner ?? owner).privateKey, statement),
      binding,
      tokenSignature: signBinding((options.bindingTokenSigner ?? token).privateKey, binding),
      agentSignature: signBinding(keys.signing.privateKey, binding),
    },
  };
  const record: AgentRecord = options.confirmed === false ? unconfirmed : { ...unconfirmed, statement: agentStatementFor(owner, unconfirmed, options.confirmed) };
  return { keys, record, token, statement };
};

/** An account with its owner key and this agent (a key server) enrolled in it. */
export const accountWithAgent = () => {
  const owner = generateRawKeyPair('ed25519');
  const accountId = newId('acc');
  const me = enrolledPeer(owner, accountId);
  const self = {
    accountId,
    agentId: me.record.agentId,
    role: 'keyserver' as const,
    keys: me.keys,
    ownerKey: owner.publicKey,
    statements: memoryStatementPins(),
  };
  return { owner, accountId, me, self };
};
