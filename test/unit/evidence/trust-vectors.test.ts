import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { computeTrustVectors, intent, approval, statements, trustVectorsFile } from '../../vectors/trust.ts';

type Vector = { canonical: string; hash?: string; signature: string };
const stored = JSON.parse(readFileSync(trustVectorsFile, 'utf8')) as ReturnType<typeof computeTrustVectors>;

/** Ed25519 from the raw 32-byte seed and public key, with node:crypto alone (not the project's helpers). */
const pkcs8 = (seed: Buffer) => createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
const spki = (raw: Buffer) => createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });

/** docs/trust.md, read as an independent implementer would: label ‖ canonical JSON, Ed25519. */
const signedAsDocumented = (label: string, canonical: string, seedHex: string) => sign(null, Buffer.concat([Buffer.from(label, 'latin1'), Buffer.from(canonical, 'utf8')]), pkcs8(Buffer.from(seedHex, 'hex'))).toString('base64url');
const hashAsDocumented = (label: string, canonical: string) => createHash('sha256').update(label, 'latin1').update(canonical, 'utf8').digest('hex');

describe('trust vectors (docs/trust-vectors.json)', () => {
  it('the file is what the code computes today', () => {
    expect(computeTrustVectors()).toEqual(stored);
  });

  it.each(statements.map((s, i) => [s.kind, i] as const))('the %s statement: canonical bytes, hash and owner signature follow the document', (kind, i) => {
    const v = stored.statements[i] as Vector;
    const label = `latchkey/statement/${kind}/v1\0`;
    expect(JSON.parse(v.canonical)).toEqual(statements[i]);
    expect(v.hash).toBe(hashAsDocumented(label, v.canonical));
    expect(v.signature).toBe(signedAsDocumented(label, v.canonical, stored.ownerSeedHex));
    expect(verify(null, Buffer.concat([Buffer.from(label, 'latin1'), Buffer.from(v.canonical)]), spki(Buffer.from(stored.ownerPublicKey, 'base64url')), Buffer.from(v.signature, 'base64url'))).toBe(true);
  });

  it('the deployment intent and an approval of it follow the document; the approval names the intent by its hash', () => {
    expect(JSON.parse(stored.intent.canonical)).toEqual(intent);
    expect(stored.intent.hash).toBe(hashAsDocumented('latchkey/deployment-intent/v1\0', stored.intent.canonical));
    expect(stored.intent.signature).toBe(signedAsDocumented('latchkey/deployment-intent/v1\0', stored.intent.canonical, stored.personSeedHex));
    expect(JSON.parse(stored.approval.canonical)).toEqual(approval);
    expect(approval.intentHash).toBe(stored.intent.hash);
    expect(stored.approval.signature).toBe(signedAsDocumented('latchkey/approval/v1\0', stored.approval.canonical, stored.personSeedHex));
  });

  it('a statement signature never verifies as another kind (labels differ)', () => {
    const v = stored.statements[0] as Vector;
    const asEnvironment = Buffer.concat([Buffer.from('latchkey/statement/environment/v1\0', 'latin1'), Buffer.from(v.canonical)]);
    expect(verify(null, asEnvironment, spki(Buffer.from(stored.ownerPublicKey, 'base64url')), Buffer.from(v.signature, 'base64url'))).toBe(false);
  });
});
