/**
 * Vectors of the agents' receipts (docs/trust.md, "Audit and receipts"), from fixed keys:
 * `npx tsx test/vectors/receipts.ts` writes docs/receipt-vectors.json; the unit test
 * test/unit/evidence/receipt-vectors.test.ts checks the file against the code and an independent
 * reading of the document (label ‖ canonical JSON, Ed25519).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { publicFromPrivate } from '#shared/crypto/index.ts';
import { canonicalJson } from '#shared/protocol/canonical-json.ts';
import { signReceipt, type GrantIssuedReceipt, type ReleaseInstalledReceipt } from '#shared/protocol/receipts.ts';
import { toB64 } from '#shared/protocol/trust.ts';

export const KEY_SERVER_SEED = Buffer.alloc(32, 0x33);
export const TARGET_SEED = Buffer.alloc(32, 0x44);
const acc = `acc_${'a'.repeat(32)}`;
const ids = {
  accountId: acc,
  deploymentId: `dep_${'6'.repeat(32)}`,
  releaseId: `rel_${'7'.repeat(32)}`,
  environmentId: `env_${'2'.repeat(32)}`,
};
const digest = '9'.repeat(64);

export const grantIssued: GrantIssuedReceipt = {
  v: 1,
  kind: 'grant-issued',
  ...ids,
  agentId: `agt_${'5'.repeat(32)}`,
  digest,
  targets: [`agt_${'8'.repeat(32)}`],
  expiresAt: '2026-12-07T10:20:00.000Z',
  issuedAt: '2026-12-07T10:00:00.000Z',
  evidenceHash: 'e'.repeat(64),
};

export const releaseInstalled: ReleaseInstalledReceipt = {
  v: 1,
  kind: 'release-installed',
  ...ids,
  agentId: `agt_${'8'.repeat(32)}`,
  digest,
  current: `001796637605000-dep_${'6'.repeat(32)}`,
  installedAt: '2026-12-07T10:00:05.000Z',
};

export const computeReceiptVectors = () => ({
  keyServerSeedHex: KEY_SERVER_SEED.toString('hex'),
  keyServerPublicKey: toB64(publicFromPrivate('ed25519', KEY_SERVER_SEED)),
  targetSeedHex: TARGET_SEED.toString('hex'),
  targetPublicKey: toB64(publicFromPrivate('ed25519', TARGET_SEED)),
  grantIssued: { canonical: canonicalJson(grantIssued), signature: signReceipt(KEY_SERVER_SEED, grantIssued).signature },
  releaseInstalled: { canonical: canonicalJson(releaseInstalled), signature: signReceipt(TARGET_SEED, releaseInstalled).signature },
});

export const receiptVectorsFile = path.resolve(import.meta.dirname, '../../docs/receipt-vectors.json');

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(receiptVectorsFile, `${JSON.stringify(computeReceiptVectors(), null, 2)}\n`);
}
