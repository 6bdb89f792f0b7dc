import type { z } from 'zod';
import { routes } from '#functions/api/routes.ts';
import { ApiProblem, ApiUnreachable, UsageError, type Problem } from './errors.ts';
import { httpFetch, type Fetch, type FetchAnswer } from './http-fetch.ts';

type AnyRoute = (typeof routes)[number];
type RouteMap = { [R in AnyRoute as `${R['method']} ${R['path']}`]: R };
/** `'GET /users'`, `'PATCH /environments/{id}'`…: the route table's own keys. */
export type RouteKey = keyof RouteMap;

type Schema<R, Part extends string> = R extends { [P in Part]: infer S extends z.ZodType } ? S : never;
export type ResponseOf<K extends RouteKey> =
  RouteMap[K]['response'] extends { schema: infer S extends z.ZodType } ? z.output<S> : unknown;
export type BodyOf<K extends RouteKey> = z.input<Schema<RouteMap[K], 'body'>>;
export type ParamsOf<K extends RouteKey> = z.input<Schema<RouteMap[K], 'params'>>;

/** Params and body are required exactly when the route declares them. */
export type RequestOf<K extends RouteKey> = (RouteMap[K] extends { params: z.ZodType } ? { params: ParamsOf<K> } : { params?: never }) &
  (RouteMap[K] extends { body: z.ZodType } ? { body: BodyOf<K> } : { body?: never }) & {
    query?: Record<string, string | number | undefined>;
  };

/** The list routes: they take `?limit=&cursor=` and answer `{items, nextCursor}`. */
export type ListKey = { [K in RouteKey]: ResponseOf<K> extends { items: unknown[]; nextCursor?: string } ? K : never }[RouteKey];
export type ItemOf<K extends ListKey> = ResponseOf<K> extends { items: (infer T)[] } ? T : never;

const MAX_PAGE = 100;
const REQUEST_TIMEOUT_MS = 30_000;

const fieldOf = (path: readonly PropertyKey[]) => (path.length ? path.map(String).join('.') : undefined);

/**
 * Checks input with the schema the server uses, so a typo is caught before anything is sent and
 * named the way the server would name it. Returns the parsed value (defaults applied, trimmed).
 */
export const checkInput = <S extends z.ZodType>(schema: S, value: unknown): z.output<S> => {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue ? fieldOf(issue.path) : undefined;
  const message = issue?.message ?? 'invalid input';
  throw new UsageError(field ? `${field}: ${message}` : message, field === undefined ? {} : { field });
};

export type ApiClientOptions = {
  endpoint: string;
  token?: string | undefined;
  fetch?: Fetch;
};

export type PreparedRequest = { method: string; url: string; headers: Record<string, string>; body?: string };

const routeFor = (key: RouteKey): AnyRoute => {
  const route = routes.find((candidate) => `${candidate.method} ${candidate.path}` === key);
  if (!route) throw new Error(`no route ${key} in the route table`);
  return route;
};

/** Builds the HTTP request for a route: pure, so the mapping from arguments is unit-testable. */
export const prepareRequest = <K extends RouteKey>(options: ApiClientOptions, key: K, request: RequestOf<K>): PreparedRequest => {
  const route = routeFor(key);
  const params = 'params' in route ? (checkInput(route.params, request.params ?? {}) as Record<string, string>) : {};
  // Endpoints may carry a stage path (API Gateway's `/prod`), so join by hand, not with new URL(path, base).
  let url = options.endpoint.replace(/\/+$/, '') + route.path.replace(/\{([^}]+)\}/g, (_m, name: string) => encodeURIComponent(params[name] ?? ''));
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(request.query ?? {})) if (value !== undefined) query.set(name, String(value));
  if ([...query].length) url += `?${query}`;
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
  if (route.auth === 'token') {
    if (!options.token) throw new UsageError('Not logged in', { hint: 'Run `latchkey login` (or set LATCHKEY_TOKEN).' });
    headers.authorization = `Bearer ${options.token}`;
  }
  const prepared: PreparedRequest = { method: route.method, url, headers };
  if ('body' in route) {
    prepared.body = JSON.stringify(checkInput(route.body, request.body));
    headers['content-type'] = 'application/json';
  }
  return prepared;
};

/** Reads any non-2xx answer as a problem: API Gateway's own 413/500 answers are `{message}`. */
const problemOf = (status: number, statusText: string, body: unknown): Problem => {
  const value = (body ?? {}) as Partial<Problem> & { message?: unknown };
  const title = typeof value.title === 'string' ? value.title : typeof value.message === 'string' ? value.message : statusText || `HTTP ${status}`;
  return {
    type: typeof value.type === 'string' ? value.type : 'about:blank',
    title,
    status,
    ...(typeof value.field === 'string' ? { field: value.field } : {}),
    ...(typeof value.detail === 'string' ? { detail: value.detail } : {}),
  };
};

const hintFor = (status: number) =>
  status === 401 ? 'The API did not accept your token: run `latchkey login` again (or check LATCHKEY_TOKEN).' : undefined;

/** fetch says only "fetch failed"; the reason worth printing is in its cause. */
const networkReason = (error: unknown): string => {
  if ((error as Error)?.name === 'TimeoutError') return `no answer in ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = (error as { cause?: { code?: unknown; message?: unknown } })?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return (error as Error)?.message ?? String(error);
};

export type ApiClient = ReturnType<typeof createApiClient>;

/**
 * A client typed by the route table. Responses are typed with the route's schema but
 * not re-parsed: the server already answers in that shape, and parsing would strip fields that a
 * newer server adds, which `--json` should pass through.
 */
export const createApiClient = (options: ApiClientOptions) => {
  const doFetch = options.fetch ?? httpFetch;

  const call = async <K extends RouteKey>(key: K, ...[request]: Partial<RequestOf<K>> extends RequestOf<K> ? [RequestOf<K>?] : [RequestOf<K>]): Promise<ResponseOf<K>> => {
    const prepared = prepareRequest(options, key, (request ?? {}) as RequestOf<K>);
    let response: FetchAnswer;
    let text: string;
    try {
      response = await doFetch(prepared.url, {
        method: prepared.method,
        headers: prepared.headers,
        ...(prepared.body === undefined ? {} : { body: prepared.body }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      text = await response.text();
    } catch (error) {
      throw new ApiUnreachable(`Cannot reach the API at ${options.endpoint} (${networkReason(error)})`, {
        hint: 'Check the endpoint (`latchkey whoami`, LATCHKEY_ENDPOINT) and that the API is running.',
      });
    }
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const hint = hintFor(response.status);
      throw new ApiProblem(problemOf(response.status, response.statusText, body), hint ? { hint } : {});
    }
    if (text && body === undefined) {
      throw new ApiUnreachable(`The API at ${options.endpoint} answered ${key} with something that is not JSON`, {
        hint: 'Is the endpoint the Latchkey API and not another server?',
      });
    }
    return body as ResponseOf<K>;
  };

  /**
   * Follows `nextCursor` until the list ends or `limit` items are in hand. `more` says whether the
   * server had more than was fetched, so a caller can say the output is cut short. `params` fills
   * the path of a nested list (`GET /apps/{id}/releases`); `query` adds filters (`environmentId`).
   */
  const list = async <K extends ListKey>(
    key: K,
    { limit, params, query }: { limit?: number | undefined; params?: Record<string, string>; query?: Record<string, string | undefined> } = {},
  ): Promise<{ items: ItemOf<K>[]; more: boolean }> => {
    const items: ItemOf<K>[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    for (;;) {
      const want = limit === undefined ? MAX_PAGE : Math.min(MAX_PAGE, limit - items.length);
      const request = { ...(params ? { params } : {}), query: { ...query, limit: want, cursor } };
      const page = (await call(key as ListKey, request as never)) as { items: ItemOf<K>[]; nextCursor?: string };
      items.push(...page.items);
      cursor = page.nextCursor;
      if (limit !== undefined && items.length >= limit) return { items: items.slice(0, limit), more: cursor !== undefined || items.length > limit };
      if (cursor === undefined) return { items, more: false };
      // A server bug that hands back a cursor twice would otherwise loop for ever.
      if (seen.has(cursor)) throw new ApiUnreachable(`The API returned the same page cursor twice for ${key}`);
      seen.add(cursor);
    }
  };

  return { call, list, endpoint: options.endpoint };
};
