import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeContext, encodeContext, type CryptoContext, type Purpose } from '../../../shared/crypto/index.ts';
import { rejection } from './helpers.ts';

const purposes: Purpose[] = ['release', 'release-key', 'deployment-key', 'key-list', 'master-key', 'deployment-grant'];
const id = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' });
const contextArb: fc.Arbitrary<CryptoContext> = fc.record(
  {
    account: id,
    purpose: fc.constantFrom(...purposes),
    application: id,
    release: id,
    environment: id,
    deployment: id,
    keyVersion: fc.integer({ min: 0, max: 0xffffffff }),
  },
  { requiredKeys: ['account', 'purpose'] },
);

describe('canonical context', () => {
  it('decodes what it encodes, whatever the property order', () => {
    fc.assert(
      fc.property(contextArb, (ctx) => {
        const reversed = Object.fromEntries(Object.entries(ctx).reverse()) as unknown as CryptoContext;
        expect(encodeContext(reversed).equals(encodeContext(ctx))).toBe(true);
        expect(decodeContext(encodeContext(ctx))).toEqual(ctx);
      }),
      { numRuns: 200 },
    );
  });

  it('gives different contexts different bytes (no field can bleed into another)', () => {
    fc.assert(
      fc.property(contextArb, contextArb, (a, b) => {
        const same = JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
        return encodeContext(a).equals(encodeContext(b)) === same;
      }),
      { numRuns: 300 },
    );
    const a = encodeContext({ account: 'a', application: 'bc', purpose: 'release' });
    const b = encodeContext({ account: 'ab', application: 'c', purpose: 'release' });
    expect(a.equals(b)).toBe(false);
  });

  it('has the documented byte layout', () => {
    expect(encodeContext({ account: 'a1', purpose: 'release', keyVersion: 7 }).toString('hex')).toBe(
      '03' + '07' + Buffer.from('account').toString('hex') + '0002' + Buffer.from('a1').toString('hex') +
        '0b' + Buffer.from('key-version').toString('hex') + '0001' + Buffer.from('7').toString('hex') +
        '07' + Buffer.from('purpose').toString('hex') + '0007' + Buffer.from('release').toString('hex'),
    );
  });

  it('rejects bad values and non-canonical bytes', async () => {
    expect(() => encodeContext({ account: '', purpose: 'release' })).toThrow();
    expect(() => encodeContext({ account: 'a', purpose: 'release', release: '\ud800' })).toThrow(/Unicode/);
    expect(() => encodeContext({ account: 'a', purpose: 'nope' as Purpose })).toThrow();
    expect(() => encodeContext({ account: 'a'.repeat(1000), purpose: 'release' })).toThrow(/bytes/);
    const good = encodeContext({ account: 'a', application: 'b', purpose: 'release' });
    // Swap the first two pairs: same content, wrong order.
    const acc = good.subarray(1, 1 + 1 + 7 + 2 + 1);
    const app = good.subarray(acc.byteLength + 1, acc.byteLength + 1 + 1 + 11 + 2 + 1);
    const swapped = Buffer.concat([good.subarray(0, 1), app, acc, good.subarray(1 + acc.byteLength + app.byteLength)]);
    expect((await rejection(async () => decodeContext(swapped))).reason).toBe('malformed');
    expect((await rejection(async () => decodeContext(Buffer.concat([good, Buffer.from([0])])))).reason).toBe('malformed');
  });
});
