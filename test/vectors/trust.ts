/**
 * Vectors of the owner's statements, deployment intents and approvals (docs/trust.md), from fixed
 * keys: `npx tsx test/vectors/trust.ts` writes docs/trust-vectors.json; the unit test
 * test/unit/evidence/trust-vectors.test.ts checks the file against the code and an independent
 * reading of the document (label ‖ canonical JSON, Ed25519).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { publicFromPrivate } from '#shared/crypto/index.ts';
import { canonicalJson } from '#shared/protocol/canonical-json.ts';
import { intentHash, signApproval, signIntent, type ApprovalStatement, type DeploymentIntent } from '#shared/protocol/deployment-evidence.ts';
import { signStatement, statementHash, type Statement } from '#shared/protocol/statements.ts';
import { toB64 } from '#shared/protocol/trust.ts';

export const OWNER_SEED = Buffer.alloc(32, 0x11);
export const PERSON_SEED = Buffer.alloc(32, 0x22);
const ownerKey = publicFromPrivate('ed25519', OWNER_SEED);
const personKey = publicFromPrivate('ed25519', PERSON_SEED);
const acc = `acc_${'a'.repeat(32)}`;
const at = '2026-12-07T10:00:00.000Z';

export const statements: Statement[] = [
  { v: 1, kind: 'person', accountId: acc, userId: `usr_${'1'.repeat(32)}`, name: 'Dan Deployer', email: 'dan@example.com', role: 'deployer', status: 'active', signingKey: toB64(personKey), version: 2, issuedAt: at },
  {
    v: 1,
    kind: 'environment',
    accountId: acc,
    environmentId: `env_${'2'.repeat(32)}`,
    name: 'prod',
    version: 5,
    issuedAt: at,
    deployers: { roles: ['owner', 'deployer'], people: [] },
    approval: { required: true, approvers: [`usr_${'3'.repeat(32)}`], count: 1, preventSelfApproval: true, ownerMayApprove: true, windowHours: 72, signed: true },
    variables: { DESTINATION_FILE: '/opt/app/secret.cred', SECRET_FILE: 'secret.cred.prod' },
    reportScriptOutput: false,
  },
  { v: 1, kind: 'application', accountId: acc, appId: `app_${'4'.repeat(32)}`, name: 'securekeys', secure: true, version: 2, issuedAt: at },
  { v: 1, kind: 'agent', accountId: acc, agentId: `agt_${'5'.repeat(32)}`, role: 'target', environments: [`env_${'2'.repeat(32)}`], encryptionKey: toB64(Buffer.alloc(32, 6)), signingKey: toB64(Buffer.alloc(32, 7)), status: 'active', version: 1, issuedAt: at },
];

export const intent: DeploymentIntent = {
  v: 1,
  accountId: acc,
  deploymentId: `dep_${'6'.repeat(32)}`,
  appId: `app_${'4'.repeat(32)}`,
  releaseId: `rel_${'7'.repeat(32)}`,
  manifestHash: '8'.repeat(64),
  environmentId: `env_${'2'.repeat(32)}`,
  environmentVersion: 5,
  deployerId: `usr_${'1'.repeat(32)}`,
  createdAt: at,
  expiresAt: '2026-12-10T10:00:00.000Z',
};

export const approval: ApprovalStatement = { v: 1, accountId: acc, deploymentId: intent.deploymentId, intentHash: intentHash(intent), decision: 'approve-and-deploy', approverId: `usr_${'3'.repeat(32)}`, at };

export const computeTrustVectors = () => ({
  ownerSeedHex: OWNER_SEED.toString('hex'),
  ownerPublicKey: toB64(ownerKey),
  personSeedHex: PERSON_SEED.toString('hex'),
  personPublicKey: toB64(personKey),
  statements: statements.map((s) => ({ canonical: canonicalJson(s), hash: statementHash(s), signature: signStatement(OWNER_SEED, s).signature })),
  intent: { canonical: canonicalJson(intent), hash: intentHash(intent), signature: signIntent(PERSON_SEED, intent).signature },
  approval: { canonical: canonicalJson(approval), signature: signApproval(PERSON_SEED, approval).signature },
});

export const trustVectorsFile = path.resolve(import.meta.dirname, '../../docs/trust-vectors.json');

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(trustVectorsFile, `${JSON.stringify(computeTrustVectors(), null, 2)}\n`);
}
