import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { generateAgentKeys, generateRawKeyPair } from '#shared/crypto/index.ts';
import {
  agentIdFor,
  masterWrapStatementOf,
  signAgentMessage,
  signMasterWrap,
  signBinding,
  signEnrolment,
  toB64,
  type AgentBinding,
  type EnrolmentStatement,
} from '#shared/protocol/trust.ts';
import type { Caller } from './accounts.ts';
import { api } from './http.ts';

/** The owner key, made and registered the way the CLI does it. */
export const registerOwnerKey = async (owner: Caller) => {
  const key = generateRawKeyPair('ed25519');
  const response = await owner('PUT', '/account/owner-key', { publicKey: toB64(key.publicKey) });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return key;
};

/** An enrolment, signed by `signer` (normally the owner key). */
export const signedEnrolment = async (owner: Caller, signer: { privateKey: Uint8Array }, role: 'keyserver' | 'target', environments: string[] = []) => {
  const token = generateRawKeyPair('ed25519');
  const created = await owner('POST', '/enrolments', { role, environments, tokenPublicKey: toB64(token.publicKey) });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const statement = created.body.statement as EnrolmentStatement;
  const signature = signEnrolment(signer.privateKey, statement);
  return { enrolmentId: created.body.enrolmentId as string, statement, signature, token };
};

/** An agent enrolled over the API, holding its keys in memory: for tests that speak for an agent. */
export const enrolAgent = async (
  owner: Caller,
  ownerKey: { privateKey: Uint8Array },
  role: 'keyserver' | 'target' = 'keyserver',
  environments: string[] = [],
) => {
  const enrolment = await signedEnrolment(owner, ownerKey, role, environments);
  expect((await owner('PUT', `/enrolments/${enrolment.enrolmentId}/signature`, { signature: enrolment.signature })).status).toBe(200);
  const keys = generateAgentKeys();
  const binding: AgentBinding = {
    v: 1,
    accountId: enrolment.statement.accountId,
    enrolmentId: enrolment.enrolmentId,
    agentId: agentIdFor(keys.signing.publicKey),
    role,
    encryptionKey: toB64(keys.encryption.publicKey),
    signingKey: toB64(keys.signing.publicKey),
    enrolledAt: new Date().toISOString(),
  };
  const enrolled = await api('POST', '/agents', {
    json: { binding, tokenSignature: signBinding(enrolment.token.privateKey, binding), agentSignature: signBinding(keys.signing.privateKey, binding) },
  });
  expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(201);
  const accountId = enrolment.statement.accountId;
  return {
    agentId: binding.agentId,
    accountId,
    queueUrl: enrolled.body.queueUrl as string,
    keys,
    binding,
    /** A message on the reply queue as this agent would send it. */
    sign: <T extends Record<string, unknown>>(message: T) => ({ ...message, signature: signAgentMessage(keys.signing.privateKey, message) }),
    /** A master key copy for `recipientId` as this agent, a key server, would sign it. */
    masterCopy: (recipientId: string, version: number, wrappedMaster: string, commitment = '0'.repeat(64)) => ({
      agentId: recipientId,
      wrappedMaster,
      commitment,
      signature: signMasterWrap(keys.signing.privateKey, masterWrapStatementOf({ accountId, version, recipientId, wrappedMaster, commitment })),
    }),
    heartbeat: () => {
      const message = { type: 'heartbeat', accountId, agentId: binding.agentId, at: new Date().toISOString() };
      return { ...message, signature: signAgentMessage(keys.signing.privateKey, message) };
    },
  };
};

export const newRequestId = () => `req_${randomBytes(16).toString('hex')}`;
