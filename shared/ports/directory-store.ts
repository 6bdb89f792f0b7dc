import type { Account, ApiToken, User } from '#shared/domain/accounts/model.ts';

/** Persistence of accounts, people and tokens. Every write is conditional; none is a transaction. */
export interface DirectoryStore {
  /** Fails with ConflictError if the account id exists. */
  putAccount(account: Account): Promise<void>;
  /** Fails with ConflictError if the user id, or the email within the account, exists. */
  putUser(user: User): Promise<void>;
  putToken(token: ApiToken): Promise<void>;
  /** Looks a token up by the SHA-256 of its secret; consistent, so a new token works at once. */
  findTokenByHash(secretHash: string): Promise<ApiToken | undefined>;
  getAccount(accountId: string): Promise<Account | undefined>;
}
