import { describe, expect, it } from 'vitest';
import { credentialToVouch, fingerprintOption, passkeyRows, withoutPasskey, withPasskey, type RegisteredPasskey } from '#cli/passkeys.ts';
import { RefusedError, UsageError } from '#cli/errors.ts';
import { groupedFingerprint, passkeyFingerprint, webOriginOf } from '#shared/protocol/passkeys.ts';
import type { PersonStatement } from '#shared/protocol/statements.ts';
import { softAuthenticator } from '../../support/soft-authenticator.ts';

const ENDPOINT = 'http://127.0.0.1:4000';
const where = webOriginOf(ENDPOINT);
const registered = (algorithm: -7 | -8 = -7, overrides: Partial<RegisteredPasskey> = {}): RegisteredPasskey => ({
  ...softAuthenticator(algorithm).credential(where),
  label: 'laptop',
  userId: 'usr_x',
  registeredAt: '2026-12-01T10:00:00.000Z',
  ...overrides,
});
const statement = (passkeys: PersonStatement['passkeys']): PersonStatement => ({
  v: 1, kind: 'person', accountId: 'acc_x', userId: 'usr_x', version: 3, issuedAt: '2026-12-01T10:00:00.000Z', name: 'Grace', email: 'grace@example.com', role: 'approver', status: 'active', ...(passkeys ? { passkeys } : {}),
});
const strip = ({ userId: _u, registeredAt: _r, ...credential }: RegisteredPasskey) => credential;

describe('the fingerprint the owner types (fingerprintOption)', () => {
  it('takes the grouped form the page shows, any case, colons or spaces', () => {
    const hex = passkeyFingerprint(registered());
    expect(fingerprintOption(groupedFingerprint(hex).toUpperCase())).toBe(hex);
    expect(fingerprintOption(hex.match(/../g)!.join(':'))).toBe(hex);
  });
  it('refuses anything but 64 hex digits, before anything is sent', () => {
    expect(() => fingerprintOption('abcd')).toThrow(UsageError);
    expect(() => fingerprintOption('g'.repeat(64))).toThrow(UsageError);
  });
});

describe('which credential the owner vouches for (credentialToVouch)', async () => {
  it('the one whose fingerprint, computed here, was read out; rebuilt with the key’s own algorithm and this API’s origin', async () => {
    const [a, b] = [registered(-7), registered(-8, { label: 'phone' })];
    const picked = await credentialToVouch([a!, b!], passkeyFingerprint(b!), ENDPOINT, 'Grace');
    expect(picked).toEqual(strip(b!));
    expect(picked.algorithm).toBe(-8);
  });

  it('a key the backend swapped (same id, another key) matches no fingerprint read out: refused', async () => {
    const genuine = registered();
    const swapped = { ...genuine, publicKey: softAuthenticator().credential(where).publicKey };
    await expect(credentialToVouch([swapped], passkeyFingerprint(genuine), ENDPOINT, 'Grace')).rejects.toThrow(RefusedError);
    await expect(credentialToVouch([swapped], passkeyFingerprint(genuine), ENDPOINT, 'Grace')).rejects.toThrow(/No passkey registered for Grace has the fingerprint/);
  });

  it('an algorithm the API misstates is read from the key itself', async () => {
    const ed = registered(-8);
    expect((await credentialToVouch([{ ...ed, algorithm: -7 }], passkeyFingerprint(ed), ENDPOINT, 'Grace')).algorithm).toBe(-8);
  });

  it('a credential registered for another origin or RP ID than this CLI’s API is refused', async () => {
    const elsewhere = registered(-7, { origin: 'https://evil.example', rpId: 'evil.example' });
    await expect(credentialToVouch([elsewhere], passkeyFingerprint(elsewhere), ENDPOINT, 'Grace')).rejects.toThrow(/registered for https:\/\/evil.example/);
    const otherPort = registered(-7, { origin: 'http://localhost:4001' });
    await expect(credentialToVouch([otherPort], passkeyFingerprint(otherPort), ENDPOINT, 'Grace')).rejects.toThrow(RefusedError);
  });

  it('a "key" that is not a COSE key of ours is refused', async () => {
    const junk = registered(-7, { publicKey: 'A'.repeat(60) });
    await expect(credentialToVouch([junk], passkeyFingerprint(junk), ENDPOINT, 'Grace')).rejects.toThrow(/not an Ed25519 or ES256 COSE key/);
  });
});

describe('the passkeys of the next statement', () => {
  it('withPasskey appends, replaces one of the same id, and stops at 10', () => {
    const one = strip(registered());
    expect(withPasskey(undefined, one)).toEqual([one]);
    expect(withPasskey([one], { ...one, label: 'renamed' })).toEqual([{ ...one, label: 'renamed' }]);
    const ten = Array.from({ length: 10 }, () => strip(registered()));
    expect(() => withPasskey(ten, one)).toThrow(/at most 10/);
  });

  it('withoutPasskey drops the one of that fingerprint, keeps the others, and refuses one the statement does not name', () => {
    const [a, b] = [strip(registered()), strip(registered(-8))];
    expect(withoutPasskey(statement([a, b]), passkeyFingerprint(a), 'grace')).toEqual({ kept: [b], withdrawn: a });
    expect(() => withoutPasskey(statement([b]), passkeyFingerprint(a), 'grace')).toThrow(/vouches for no passkey/);
    expect(() => withoutPasskey(undefined, passkeyFingerprint(a), 'grace')).toThrow(RefusedError);
  });
});

describe('the rows of `users passkeys`', () => {
  it('each registered credential with its fingerprint computed here and whether the verified statement names it; a vouched one the API no longer lists is shown too', () => {
    const [a, b, c] = [registered(), registered(-8), registered()];
    const rows = passkeyRows([a!, b!], statement([strip(b!), strip(c!)]), true);
    expect(rows.map((row) => [row.fingerprint, row.vouched, row.registered])).toEqual([
      [passkeyFingerprint(a!), false, true],
      [passkeyFingerprint(b!), true, true],
      [passkeyFingerprint(c!), true, false],
    ]);
    expect(passkeyRows([a!], undefined, false)[0]!.vouched).toBeUndefined();
  });
});
