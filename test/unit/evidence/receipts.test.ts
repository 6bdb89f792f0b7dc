import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { receiptProblem, signReceipt, type Receipt } from '#shared/protocol/receipts.ts';
import { grantIssued, releaseInstalled } from '../../vectors/receipts.ts';

const agent = generateRawKeyPair('ed25519');
const other = generateRawKeyPair('ed25519');

describe('receipts', () => {
  it('a signed receipt verifies under its agent’s key, as its own kind only', () => {
    const installed = signReceipt(agent.privateKey, releaseInstalled);
    expect(receiptProblem(agent.publicKey, installed, 'release-installed')).toBeUndefined();
    expect(receiptProblem(other.publicKey, installed, 'release-installed')).toBe('its signature does not verify under the agent’s key');
    expect(receiptProblem(agent.publicKey, installed, 'grant-issued')).toMatch(/^it is malformed/);
    // Signed as one kind, relabelled as the other: the label is part of what is signed.
    const granted = signReceipt(agent.privateKey, grantIssued);
    expect(receiptProblem(agent.publicKey, granted, 'grant-issued')).toBeUndefined();
    expect(receiptProblem(agent.publicKey, { receipt: releaseInstalled, signature: granted.signature }, 'release-installed')).toBe('its signature does not verify under the agent’s key');
  });

  it('the evidence hash is optional, and hex when present', () => {
    expect(receiptProblem(agent.publicKey, signReceipt(agent.privateKey, { ...grantIssued, evidenceHash: undefined }), 'grant-issued')).toBeUndefined();
    expect(receiptProblem(agent.publicKey, { receipt: { ...releaseInstalled, evidenceHash: 'E'.repeat(64) }, signature: 'x'.repeat(86) }, 'release-installed')).toMatch(/evidenceHash/);
  });

  it('anything that is not a receipt is named malformed, never thrown', () => {
    for (const junk of [undefined, null, 'receipt', {}, { receipt: {} }, { receipt: releaseInstalled }, { receipt: { ...releaseInstalled, extra: 1 }, signature: 'x'.repeat(86) }]) {
      expect(receiptProblem(agent.publicKey, junk, 'release-installed')).toMatch(/^it is malformed/);
    }
  });

  it('any change to any field of any signed receipt is caught (property)', () => {
    const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
    const time = fc.integer({ min: Date.parse('2020-01-01'), max: Date.parse('2040-01-01') }).map((ms) => new Date(ms).toISOString());
    const ids = { accountId: hex(32).map((h) => `acc_${h}`), agentId: hex(32).map((h) => `agt_${h}`), deploymentId: hex(32).map((h) => `dep_${h}`), releaseId: hex(32).map((h) => `rel_${h}`), environmentId: hex(32).map((h) => `env_${h}`), digest: hex(64) };
    const receipts: fc.Arbitrary<Receipt> = fc.oneof(
      fc.record({ v: fc.constant(1 as const), kind: fc.constant('grant-issued' as const), ...ids, targets: fc.array(hex(32).map((h) => `agt_${h}`), { minLength: 1, maxLength: 5 }), expiresAt: time, issuedAt: time, evidenceHash: hex(64) }),
      fc.record({ v: fc.constant(1 as const), kind: fc.constant('release-installed' as const), ...ids, current: fc.stringMatching(/^[0-9a-z-]{1,40}$/), installedAt: time }),
    );
    // Another value of the same shape, so the receipt still parses and only the signature can refuse it.
    const changed = (field: string, value: unknown): unknown => {
      if (Array.isArray(value)) return [...value, `agt_${'0'.repeat(32)}`];
      const text = String(value);
      if (field.endsWith('At')) return new Date(Date.parse(text) + 1).toISOString();
      if (field === 'current') return `${text}x`;
      return text.slice(0, -1) + (text.endsWith('0') ? '1' : '0');
    };
    fc.assert(
      fc.property(receipts, fc.nat(), (receipt, pick) => {
        const signed = signReceipt(agent.privateKey, receipt);
        expect(receiptProblem(agent.publicKey, signed, receipt.kind)).toBeUndefined();
        const fields = Object.keys(receipt).filter((name) => name !== 'v' && name !== 'kind');
        const field = fields[pick % fields.length]!;
        const edited = { ...signed, receipt: { ...receipt, [field]: changed(field, (receipt as Record<string, unknown>)[field]) } };
        expect(receiptProblem(agent.publicKey, edited, receipt.kind)).toBe('its signature does not verify under the agent’s key');
      }),
    );
  });
});
