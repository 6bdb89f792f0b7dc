import type { ApiClient, ItemOf, ListKey } from './api-client.ts';
import { ApiProblem, ExitCode, RefusedError, UsageError } from './errors.ts';

type Kind<K extends ListKey> = {
  list: K;
  noun: string;
  /** The CLI command that lists them, for the hint. */
  command: string;
  prefix: string;
  id: (item: ItemOf<K>) => string;
  /** Names a person may type for it; matched case-insensitively. */
  names: (item: ItemOf<K>) => string[];
};

export const kinds = {
  user: { list: 'GET /users', noun: 'person', command: 'users', prefix: 'usr', id: (u) => u.userId, names: (u) => [u.email, u.name] } satisfies Kind<'GET /users'>,
  group: { list: 'GET /groups', noun: 'group', command: 'groups', prefix: 'grp', id: (g) => g.groupId, names: (g) => [g.name] } satisfies Kind<'GET /groups'>,
  environment: { list: 'GET /environments', noun: 'environment', command: 'envs', prefix: 'env', id: (e) => e.environmentId, names: (e) => [e.name] } satisfies Kind<'GET /environments'>,
  app: { list: 'GET /apps', noun: 'application', command: 'apps', prefix: 'app', id: (a) => a.appId, names: (a) => [a.name] } satisfies Kind<'GET /apps'>,
  token: { list: 'GET /tokens', noun: 'token', command: 'tokens', prefix: 'tok', id: (t) => t.tokenId, names: (t) => [t.label] } satisfies Kind<'GET /tokens'>,
};

export const looksLikeId = (prefix: string, ref: string) => new RegExp(`^${prefix}_[0-9a-f]{32}$`).test(ref);

/**
 * Picks the one item a reference means, from a list already fetched: an id matches exactly, a
 * name case-insensitively. Pure, so the rules are unit-tested.
 */
export const pick = <K extends ListKey>(kind: Kind<K>, items: readonly ItemOf<K>[], ref: string): ItemOf<K> => {
  const byId = items.find((item) => kind.id(item) === ref);
  if (byId) return byId;
  const wanted = ref.trim().toLowerCase();
  const matches = items.filter((item) => kind.names(item).some((name) => name.toLowerCase() === wanted));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    const plural = kind.noun === 'person' ? 'people' : `${kind.noun}s`;
    throw new UsageError(`${JSON.stringify(ref)} matches ${matches.length} ${plural}: use an id (${matches.map(kind.id).join(', ')})`);
  }
  throw new RefusedError(`No ${kind.noun} matches ${JSON.stringify(ref)}`, { hint: `List them with \`latchkey ${kind.list.slice(5)} list\`.` });
};

/** Fetches the whole list (directory lists are small) and picks from it. */
export const find = async <K extends ListKey>(client: ApiClient, kind: Kind<K>, ref: string): Promise<ItemOf<K>> =>
  pick(kind, (await client.list(kind.list)).items, ref);

/**
 * An id is passed through unchecked (the API answers 404 for a wrong one), saving a list call;
 * anything else is looked up by name.
 */
export const idOf = async <K extends ListKey>(client: ApiClient, kind: Kind<K>, ref: string): Promise<string> =>
  looksLikeId(kind.prefix, ref) ? ref : kind.id(await find(client, kind, ref));

/** Several references, one list call. */
export const idsOf = async <K extends ListKey>(client: ApiClient, kind: Kind<K>, refs: readonly string[]): Promise<string[]> => {
  if (refs.every((ref) => looksLikeId(kind.prefix, ref))) return [...refs];
  const { items } = await client.list(kind.list);
  return refs.map((ref) => (looksLikeId(kind.prefix, ref) ? ref : kind.id(pick(kind, items, ref))));
};

/**
 * Emails by user id, to show people rather than ids in tables. Decoration only: someone who may
 * not list people (a 403) still gets the table, with ids.
 */
export const emailsById = async (client: ApiClient): Promise<Map<string, string>> => {
  try {
    return new Map((await client.list('GET /users')).items.map((user) => [user.userId, user.email]));
  } catch (error) {
    if (error instanceof ApiProblem && error.exitCode === ExitCode.refused) return new Map();
    throw error;
  }
};

export type Person = { name: string; email: string };

/** `Grace Hopper <grace@example.com>`, or the id when the person is not known (or not listable). */
export const personLabel = (people: ReadonlyMap<string, Person>, userId: string): string => {
  if (userId === 'system') return 'system';
  const person = people.get(userId);
  return person ? `${person.name} <${person.email}>` : userId;
};

/** Names and emails by user id, for votes and history. Decoration only, like `emailsById`. */
export const peopleById = async (client: ApiClient): Promise<Map<string, Person>> => {
  try {
    return new Map((await client.list('GET /users')).items.map((user) => [user.userId, { name: user.name, email: user.email }]));
  } catch (error) {
    if (error instanceof ApiProblem && error.exitCode === ExitCode.refused) return new Map();
    throw error;
  }
};
