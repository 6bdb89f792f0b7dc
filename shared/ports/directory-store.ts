import type { Account, ApiToken, TokenRef, User, UserStatus } from '#shared/domain/accounts/model.ts';
import type { App, Environment, Group } from '#shared/domain/directory/model.ts';
import type { Page, PageRequest } from './paging.ts';

/**
 * Persistence of the directory. Every write is one conditional single-item write (no
 * transactions): creations fail with ConflictError when the id or the name is taken, updates
 * when the item is not in the state they expect. Lists are queries with paging, never scans.
 */
export interface DirectoryStore {
  putAccount(account: Account): Promise<void>;
  getAccount(accountId: string): Promise<Account | undefined>;
  /** Registers the owner key, once: a second, different key is a ConflictError. */
  setOwnerKey(accountId: string, key: { publicKey: string; registeredAt: string }): Promise<Account>;
  /** Registers a person's release-signing key, once. */
  setSigningKey(accountId: string, userId: string, key: NonNullable<User['signingKey']>): Promise<User>;

  /** Claims the email within the account first, so two people never share one. */
  putUser(user: User): Promise<void>;
  getUser(accountId: string, userId: string): Promise<User | undefined>;
  listUsers(accountId: string, page: PageRequest): Promise<Page<User>>;
  /** Sets a person's status, unless they were removed (final): ConflictError then; NotFoundError if there is no such person. */
  setUserStatus(accountId: string, userId: string, status: UserStatus, at: string): Promise<User>;

  /**
   * Writes a token, after the links that find it among its person's tokens and among the tokens
   * made with its parent: a crash between them leaves a link to nothing, never a token that a
   * revocation cannot find.
   */
  putToken(token: ApiToken): Promise<void>;
  /** Consistent read by the SHA-256 of the secret, so a new token works at once. */
  findTokenByHash(secretHash: string): Promise<ApiToken | undefined>;
  getToken(accountId: string, tokenId: string): Promise<ApiToken | undefined>;
  listTokens(accountId: string, page: PageRequest, userId?: string): Promise<Page<ApiToken>>;
  /** The tokens made with `tokenId` (consistent: one made a moment ago is among them). */
  tokensMadeWith(accountId: string, tokenId: string): Promise<TokenRef[]>;
  /** Every token of a person, whatever its state (consistent for tokens made with links; older ones through the index). */
  tokensOf(accountId: string, userId: string): Promise<TokenRef[]>;
  /** Sets revokedAt unless already set; returns the token as revoked, or undefined if there is no such token. */
  revokeToken(token: Pick<ApiToken, 'secretHash'>, at: string): Promise<ApiToken | undefined>;

  putGroup(group: Group): Promise<void>;
  getGroup(accountId: string, groupId: string): Promise<Group | undefined>;
  listGroups(accountId: string, page: PageRequest): Promise<Page<Group>>;
  addGroupMember(accountId: string, groupId: string, userId: string): Promise<Group>;
  removeGroupMember(accountId: string, groupId: string, userId: string): Promise<Group>;

  putEnvironment(environment: Environment): Promise<void>;
  getEnvironment(accountId: string, environmentId: string): Promise<Environment | undefined>;
  listEnvironments(accountId: string, page: PageRequest): Promise<Page<Environment>>;
  /** Writes only if the stored version is still `environment.version - 1`. */
  updateEnvironment(environment: Environment): Promise<void>;

  putApp(app: App): Promise<void>;
  getApp(accountId: string, appId: string): Promise<App | undefined>;
  listApps(accountId: string, page: PageRequest): Promise<Page<App>>;
  /** Flips `secure` from false to true; a secure application never goes back. */
  markAppSecure(accountId: string, appId: string, at: string): Promise<App>;

  /** Key servers of the account, confirmed by the owner and not removed, whose last heartbeat is at or after `seenSince`. */
  countOnlineKeyServers(accountId: string, seenSince: string): Promise<number>;
}
