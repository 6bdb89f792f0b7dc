import type { Account, ApiToken, User } from '#shared/domain/accounts/model.ts';
import type { Environment, Group } from '#shared/domain/directory/model.ts';
import { ConflictError, NotFoundError } from '#shared/domain/errors.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';

type Used =
  | 'putAccount' | 'putUser' | 'putToken' | 'findTokenByHash' | 'getAccount' | 'getUser' | 'setUserStatus' | 'getToken' | 'tokensMadeWith' | 'tokensOf' | 'revokeToken'
  | 'getGroup' | 'putEnvironment' | 'getEnvironment' | 'updateEnvironment';

/** An in-memory DirectoryStore for unit tests of use cases: same conditions, no AWS. */
export const inMemoryDirectory = () => {
  const accounts = new Map<string, Account>();
  const users = new Map<string, User>();
  const tokens = new Map<string, ApiToken>();
  const groups = new Map<string, Group>();
  const environments = new Map<string, Environment>();
  const putNew = <T>(map: Map<string, T>, key: string, value: T, what: string) => {
    if (map.has(key)) throw new ConflictError(`${what} already exists`);
    map.set(key, structuredClone(value));
  };
  const copy = <T>(value: T | undefined) => (value === undefined ? undefined : structuredClone(value));
  const refs = (match: (token: ApiToken) => boolean) => [...tokens.values()].filter(match).map(({ tokenId, secretHash }) => ({ tokenId, secretHash }));
  const store: Pick<DirectoryStore, Used> = {
    putAccount: async (a) => putNew(accounts, a.accountId, a, 'account'),
    putUser: async (u) => putNew(users, `${u.accountId}/${u.userId}`, u, 'user'),
    getUser: async (accountId, userId) => copy(users.get(`${accountId}/${userId}`)),
    setUserStatus: async (accountId, userId, status, at) => {
      const user = users.get(`${accountId}/${userId}`);
      if (!user) throw new NotFoundError('No such user');
      if (user.status === 'removed') throw new ConflictError('removed');
      users.set(`${accountId}/${userId}`, { ...user, status, statusChangedAt: at });
      return copy(users.get(`${accountId}/${userId}`))!;
    },
    putToken: async (t) => putNew(tokens, t.secretHash, t, 'token'),
    findTokenByHash: async (hash) => copy(tokens.get(hash)),
    getToken: async (accountId, tokenId) => copy([...tokens.values()].find((t) => t.accountId === accountId && t.tokenId === tokenId)),
    tokensMadeWith: async (accountId, tokenId) => refs((t) => t.accountId === accountId && t.parentTokenId === tokenId),
    tokensOf: async (accountId, userId) => refs((t) => t.accountId === accountId && t.userId === userId),
    revokeToken: async ({ secretHash }, at) => {
      const token = tokens.get(secretHash);
      if (!token) return undefined;
      if (!token.revokedAt) tokens.set(secretHash, { ...token, revokedAt: at });
      return copy(tokens.get(secretHash));
    },
    getAccount: async (id) => copy(accounts.get(id)),
    getGroup: async (accountId, groupId) => copy(groups.get(`${accountId}/${groupId}`)),
    putEnvironment: async (e) => putNew(environments, `${e.accountId}/${e.environmentId}`, e, 'environment'),
    getEnvironment: async (accountId, environmentId) => copy(environments.get(`${accountId}/${environmentId}`)),
    updateEnvironment: async (e) => {
      const key = `${e.accountId}/${e.environmentId}`;
      if (environments.get(key)?.version !== e.version - 1) throw new ConflictError('The environment changed meanwhile');
      environments.set(key, structuredClone(e));
    },
  };
  return { store, accounts, users, tokens, groups, environments };
};
