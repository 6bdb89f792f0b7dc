import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { computeReceiptVectors, grantIssued, receiptVectorsFile, releaseInstalled } from '../../vectors/receipts.ts';

const stored = JSON.parse(readFileSync(receiptVectorsFile, 'utf8')) as ReturnType<typeof computeReceiptVectors>;

/** Ed25519 from the raw 32-byte seed and public key, with node:crypto alone (not the project's helpers). */
const pkcs8 = (seed: Buffer) => createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
const spki = (raw: Buffer) => createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });

/** docs/trust.md, "Audit and receipts", read as an independent implementer would: label ‖ canonical JSON, Ed25519. */
const signedBytes = (label: string, canonical: string) => Buffer.concat([Buffer.from(label, 'latin1'), Buffer.from(canonical, 'utf8')]);
const signedAsDocumented = (label: string, canonical: string, seedHex: string) => sign(null, signedBytes(label, canonical), pkcs8(Buffer.from(seedHex, 'hex'))).toString('base64url');
/** Canonical JSON as documented: keys sorted at every level, no whitespace. */
const sortedJson = (value: unknown): string =>
  Array.isArray(value) ? `[${value.map(sortedJson).join(',')}]` : value && typeof value === 'object' ? `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${sortedJson((value as Record<string, unknown>)[k])}`).join(',')}}` : JSON.stringify(value);

describe('receipt vectors (docs/receipt-vectors.json)', () => {
  it('the file is what the code computes today', () => {
    expect(computeReceiptVectors()).toEqual(stored);
  });

  it.each([
    ['grant issued', 'latchkey/receipt/grant-issued/v1\0', grantIssued, stored.grantIssued, stored.keyServerSeedHex, stored.keyServerPublicKey],
    ['release installed', 'latchkey/receipt/release-installed/v1\0', releaseInstalled, stored.releaseInstalled, stored.targetSeedHex, stored.targetPublicKey],
  ] as const)('the %s receipt: canonical bytes and the agent’s signature follow the document', (_name, label, receipt, vector, seedHex, publicKey) => {
    expect(vector.canonical).toBe(sortedJson(receipt));
    expect(vector.signature).toBe(signedAsDocumented(label, vector.canonical, seedHex));
    expect(verify(null, signedBytes(label, vector.canonical), spki(Buffer.from(publicKey, 'base64url')), Buffer.from(vector.signature, 'base64url'))).toBe(true);
  });

  it('a receipt signature never verifies as the other kind (labels differ)', () => {
    const asInstalled = signedBytes('latchkey/receipt/release-installed/v1\0', stored.grantIssued.canonical);
    expect(verify(null, asInstalled, spki(Buffer.from(stored.keyServerPublicKey, 'base64url')), Buffer.from(stored.grantIssued.signature, 'base64url'))).toBe(false);
  });
});
