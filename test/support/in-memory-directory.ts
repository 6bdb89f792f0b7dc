import type { Account, ApiToken, User } from '#shared/domain/accounts/model.ts';
import { ConflictError } from '#shared/domain/errors.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';

/** An in-memory DirectoryStore for unit tests of use cases: same conditions, no AWS. */
export const inMemoryDirectory = () => {
  const accounts = new Map<string, Account>();
  const users = new Map<string, User>();
  const tokens = new Map<string, ApiToken>();
  const putNew = <T>(map: Map<string, T>, key: string, value: T, what: string) => {
    if (map.has(key)) throw new ConflictError(`${what} already exists`);
    map.set(key, structuredClone(value));
  };
  const store: Pick<DirectoryStore, 'putAccount' | 'putUser' | 'putToken' | 'findTokenByHash' | 'getAccount'> = {
    putAccount: async (a) => putNew(accounts, a.accountId, a, 'account'),
    putUser: async (u) => putNew(users, `${u.accountId}/${u.userId}`, u, 'user'),
    putToken: async (t) => putNew(tokens, t.secretHash, t, 'token'),
    findTokenByHash: async (hash) => tokens.get(hash),
    getAccount: async (id) => accounts.get(id),
  };
  return { store, accounts, users, tokens };
};
