import { describe, expect, it } from 'vitest';
import { makeCreateAccount, OWNER_TOKEN_LIFETIME_DAYS } from '#shared/domain/accounts/create-account.ts';
import { hashTokenSecret, looksLikeTokenSecret } from '#shared/domain/accounts/token-secret.ts';
import { randomIds } from '#shared/ports/ids.ts';
import { inMemoryDirectory } from '../../support/in-memory-directory.ts';

const now = new Date('2026-11-23T10:00:00Z');

describe('create account', () => {
  it('creates the owner, the account and a token of which only the hash is kept', async () => {
    // Prepare
    const directory = inMemoryDirectory();
    const createAccount = makeCreateAccount({ directory: directory.store, audit: { append: async () => undefined as never }, clock: { now: () => now }, ids: randomIds });

    // Act
    const result = await createAccount({ accountName: 'Acme', owner: { name: 'Ada', email: 'ada@example.com' } });

    // Assess
    expect(looksLikeTokenSecret(result.token.secret)).toBe(true);
    expect(directory.accounts.get(result.accountId)).toMatchObject({ name: 'Acme', ownerId: result.ownerId });
    expect(directory.users.get(`${result.accountId}/${result.ownerId}`)).toMatchObject({ role: 'owner' });
    const stored = directory.tokens.get(hashTokenSecret(result.token.secret));
    expect(stored).toMatchObject({ tokenId: result.token.id, userId: result.ownerId });
    expect(JSON.stringify([...directory.tokens.values()])).not.toContain(result.token.secret);
    expect(new Date(result.token.expiresAt).getTime() - now.getTime()).toBe(OWNER_TOKEN_LIFETIME_DAYS * 86_400_000);
  });

  it('mints distinct ids and secrets for every account', async () => {
    const directory = inMemoryDirectory();
    const createAccount = makeCreateAccount({ directory: directory.store, audit: { append: async () => undefined as never }, clock: { now: () => now }, ids: randomIds });
    const input = { accountName: 'Acme', owner: { name: 'Ada', email: 'ada@example.com' } };
    const [a, b] = [await createAccount(input), await createAccount(input)];
    expect(a.accountId).not.toBe(b.accountId);
    expect(a.token.secret).not.toBe(b.token.secret);
  });
});

describe('token secrets', () => {
  it('carry 256 random bits behind a recognisable prefix', () => {
    expect(looksLikeTokenSecret('lk_' + 'A'.repeat(43))).toBe(true);
    expect(looksLikeTokenSecret('lk_' + 'A'.repeat(42))).toBe(false);
    expect(looksLikeTokenSecret('Bearer lk_x')).toBe(false);
    expect(hashTokenSecret('lk_x')).toMatch(/^[0-9a-f]{64}$/);
  });
});
