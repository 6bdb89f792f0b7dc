import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { agentIdFor, keyFingerprint, signBinding, signEnrolment, toB64 } from '#shared/protocol/trust.ts';
import { hex, iso } from './fake-api.ts';

export type KeyPair = { privateKey: Buffer; publicKey: Buffer };

/** An owner key file as `latchkey signup` leaves it, for tests that start after signup. */
export const writeOwnerKey = async (configDir: string, accountId: string, pair: KeyPair = generateRawKeyPair('ed25519')) => {
  const file = path.join(configDir, `owner-key.${accountId}.json`);
  const content = { v: 1, kind: 'owner', accountId, publicKey: toB64(pair.publicKey), privateKey: toB64(pair.privateKey), createdAt: iso };
  await writeFile(file, JSON.stringify(content), { mode: 0o600 });
  return { ...pair, file, registered: { publicKey: toB64(pair.publicKey), fingerprint: keyFingerprint(pair.publicKey) } };
};

let enrolments = 100;

/** An agent as GET /agents lists it, with a proof signed by `owner` (or by anyone, for a forgery). */
export const makeAgent = (
  owner: KeyPair,
  accountId: string,
  options: { name?: string; role?: 'keyserver' | 'target'; online?: boolean; masterVersions?: number[] } = {},
) => {
  const token = generateRawKeyPair('ed25519');
  const encryption = generateRawKeyPair('x25519');
  const signing = generateRawKeyPair('ed25519');
  const role = options.role ?? 'keyserver';
  const enrolmentId = `enr_${hex(enrolments++)}`;
  const agentId = agentIdFor(signing.publicKey);
  const statement = { v: 1 as const, accountId, enrolmentId, role, environments: [], expiresAt: '2099-01-01T00:00:00.000Z', tokenPublicKey: toB64(token.publicKey) };
  const binding = { v: 1 as const, accountId, enrolmentId, agentId, role, encryptionKey: toB64(encryption.publicKey), signingKey: toB64(signing.publicKey), enrolledAt: iso };
  const proof = {
    statement,
    ownerSignature: signEnrolment(owner.privateKey, statement),
    binding,
    tokenSignature: signBinding(token.privateKey, binding),
    agentSignature: signBinding(signing.privateKey, binding),
  };
  const view = {
    agentId,
    role,
    encryptionKey: binding.encryptionKey,
    signingKey: binding.signingKey,
    proof,
    ...(options.name ? { name: options.name } : {}),
    environments: [],
    enrolledAt: iso,
    lastSeenAt: iso,
    online: options.online ?? true,
    masterVersions: options.masterVersions ?? [1],
  };
  return { view, encryptionPrivateKey: encryption.privateKey };
};
