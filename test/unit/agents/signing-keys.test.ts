import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateRawKeyPair, publicFromPrivate } from '#shared/crypto/index.ts';
import { canonicalJson } from '#shared/protocol/canonical-json.ts';
import {
  signingKeyStatement,
  signingKeyStatementBytes,
  signingKeyStatementOf,
  signingKeyVouchProblem,
  vouchForSigningKey,
  type SigningKeyStatement,
} from '#shared/protocol/signing-keys.ts';
import { toB64 } from '#shared/protocol/trust.ts';

const owner = generateRawKeyPair('ed25519');
const hexId = (prefix: string) => fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => `${prefix}_${Buffer.from(b).toString('hex')}`);
const publicKey = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toB64);
const issuedAt = fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());
const statements = fc
  .record({ accountId: hexId('acc'), userId: hexId('usr'), publicKey, issuedAt })
  .map(({ accountId, userId, publicKey: key, issuedAt: at }) => signingKeyStatementOf({ accountId, userId }, key, at));

describe('the signing key statement', () => {
  it('encodes as the canonical JSON of its fields, decodes to itself, and two statements share bytes only if equal', () => {
    fc.assert(
      fc.property(statements, statements, (a, b) => {
        const bytes = signingKeyStatementBytes(a);
        expect(bytes.toString('utf8')).toBe(
          `{"accountId":"${a.accountId}","issuedAt":"${a.issuedAt}","keyId":"${a.keyId}","publicKey":"${a.publicKey}","userId":"${a.userId}","v":1}`,
        );
        expect(signingKeyStatement.parse(JSON.parse(bytes.toString('utf8')))).toEqual(a);
        expect(bytes.equals(signingKeyStatementBytes(b))).toBe(canonicalJson(a) === canonicalJson(b));
      }),
    );
  });

  it('vouched by the owner key verifies; any changed field, another key or another account does not', () => {
    const fields = ['accountId', 'userId', 'publicKey', 'keyId', 'issuedAt'] as const;
    fc.assert(
      fc.property(statements, statements, fc.constantFrom(...fields), (statement, other, field) => {
        const vouch = vouchForSigningKey(owner.privateKey, statement);
        const expected = { accountId: statement.accountId, userId: statement.userId, publicKey: statement.publicKey };
        expect(signingKeyVouchProblem(owner.publicKey, vouch, expected)).toBeUndefined();
        fc.pre(other[field] !== statement[field]);
        const changed: SigningKeyStatement = { ...statement, [field]: other[field] };
        // Refused whether the verifier expects the original ids or the changed ones (then the signature fails).
        expect(signingKeyVouchProblem(owner.publicKey, { ...vouch, statement: changed }, expected)).toBeDefined();
        expect(signingKeyVouchProblem(owner.publicKey, { ...vouch, statement: changed }, changed)).toBeDefined();
      }),
    );
  });

  it('matches the vector in docs/signing-keys.md', () => {
    const ownerSeed = Buffer.alloc(32, 1);
    const statement = signingKeyStatementOf(
      { accountId: `acc_${'1'.repeat(32)}`, userId: `usr_${'2'.repeat(32)}` },
      toB64(publicFromPrivate('ed25519', Buffer.alloc(32, 2))),
      '2026-11-30T19:00:00.000Z',
    );
    expect(toB64(publicFromPrivate('ed25519', ownerSeed))).toBe('iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w');
    expect(signingKeyStatementBytes(statement).toString('utf8')).toBe(
      '{"accountId":"acc_11111111111111111111111111111111","issuedAt":"2026-11-30T19:00:00.000Z",' +
        '"keyId":"6a3803d5f059902a1c6dafbc9ba4729212f7caac08634cc3ae76b27529f03827","publicKey":"gTl3Dqh9F19Wo1Rmw0x-zMuNipG07jeiXfYPW4_Js5Q",' +
        '"userId":"usr_22222222222222222222222222222222","v":1}',
    );
    expect(vouchForSigningKey(ownerSeed, statement).ownerSignature).toBe('BNI76u_F4X1zHinwdmJo8Vxk6-k1Oue21Ma1pm94-qyAhOFw6Qjyx9lni75CZphIan1GdFybD8APcFpR3VIdBA');
  });

  it('names what is wrong', () => {
    const statement = signingKeyStatementOf({ accountId: `acc_${'1'.repeat(32)}`, userId: `usr_${'2'.repeat(32)}` }, toB64(generateRawKeyPair('ed25519').publicKey), '2026-11-30T19:00:00.000Z');
    const vouch = vouchForSigningKey(owner.privateKey, statement);
    const expected = { accountId: statement.accountId, userId: statement.userId, publicKey: statement.publicKey };
    expect(signingKeyVouchProblem(generateRawKeyPair('ed25519').publicKey, vouch, expected)).toBe('it is not signed by the account owner key');
    expect(signingKeyVouchProblem(owner.publicKey, vouch, { ...expected, publicKey: toB64(owner.publicKey) })).toBe('it vouches for another key');
    expect(signingKeyVouchProblem(owner.publicKey, vouch, { ...expected, accountId: `acc_${'3'.repeat(32)}` })).toBe('it vouches for a key of another account');
    expect(signingKeyVouchProblem(owner.publicKey, vouch, { ...expected, userId: `usr_${'3'.repeat(32)}` })).toBe('it vouches for the key of another person');
    expect(signingKeyVouchProblem(owner.publicKey, { ...vouch, statement: { ...statement, keyId: '0'.repeat(64) } }, expected)).toBe('its key id does not match its key');
    expect(() => signingKeyStatementBytes({ ...statement, v: 2 } as never)).toThrow();
  });
});
