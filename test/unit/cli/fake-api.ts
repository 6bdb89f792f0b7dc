import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { run } from '#cli/program.ts';
import type { Env } from '#cli/config.ts';
import type { Io } from '#cli/context.ts';

export type Recorded = { method: string; path: string; query: Record<string, string>; headers: Record<string, string>; body: unknown };
type Reply = { status?: number; body?: unknown; contentType?: string };
type Handler = (request: Recorded) => Reply | Promise<Reply>;

export const ENDPOINT = 'https://api.example.test/prod';
export const TOKEN = 'lk_unit-test-token-0000000000000000000000000000';

export const hex = (n: number) => n.toString(16).padStart(32, '0');
export const iso = '2026-11-23T08:55:51.402Z';

/**
 * An in-process stand-in for the HTTP API: routes by "METHOD /path" (path without the stage),
 * records every request, and answers 404 problem+json for anything not set up — so a test
 * asserts exactly which requests a command line makes.
 */
/** The owner of the fake account, for commands that ask who they run as. */
export const fakeOwnerMe = {
  accountId: `acc_${hex(1)}`,
  accountName: 'Acme',
  user: { userId: `usr_${hex(1)}`, name: 'Ada Lovelace', email: 'ada@example.com', role: 'owner', createdAt: iso },
  tokenId: `tok_${hex(7)}`,
};

/**
 * Routes every command may call around its own (who am I, the owner's statements), answered as
 * an account with no statements yet; a test's own routes take precedence.
 */
const commonRoutes = (recordedStatements: unknown[]): Record<string, Handler> => ({
  'GET /me': () => ({ body: fakeOwnerMe }),
  'GET /statements': () => ({ body: { items: recordedStatements } }),
  'PUT /statements': ({ body }) => {
    const recorded = { ...(body as object), recordedAt: iso };
    recordedStatements.push(recorded);
    return { body: recorded };
  },
});

export const fakeApi = (ownRoutes: Record<string, Handler>) => {
  const requests: Recorded[] = [];
  const routes = { ...commonRoutes([]), ...ownRoutes };
  const fetch = (async (input: string | URL, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const recorded: Recorded = {
      method: init.method ?? 'GET',
      path: url.pathname.replace(/^\/prod/, ''),
      query: Object.fromEntries(url.searchParams),
      headers: (init.headers ?? {}) as Record<string, string>,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
    };
    requests.push(recorded);
    const handler = routes[`${recorded.method} ${recorded.path}`];
    const reply: Reply = handler
      ? await handler(recorded)
      : { status: 404, body: { type: 'https://latchkey.dev/problems/not-found', title: 'No such route', status: 404 }, contentType: 'application/problem+json' };
    const status = reply.status ?? 200;
    return new Response(reply.body === undefined ? null : JSON.stringify(reply.body), {
      status,
      headers: { 'content-type': reply.contentType ?? (status >= 400 ? 'application/problem+json' : 'application/json') },
    });
  }) as typeof globalThis.fetch;
  const calls = () => requests.map((r) => `${r.method} ${r.path}`);
  /** The calls a command made for what it was asked, without who-am-I and the owner's statements. */
  const ownCalls = () => calls().filter((c) => !['GET /me', 'GET /statements', 'PUT /statements'].includes(c));
  return { fetch, requests, calls, ownCalls, routes };
};

export const problem = (status: number, title: string, field?: string): Reply => ({
  status,
  body: { type: `https://latchkey.dev/problems/x`, title, status, ...(field ? { field } : {}) },
});

/** Runs the CLI in-process with a fake API, logged in through LATCHKEY_* variables. */
export const runCli = async (
  argv: string[],
  api: ReturnType<typeof fakeApi>,
  options: { env?: Env; secret?: string; io?: Pick<Io, 'isTTY' | 'columns' | 'sleep' | 'onInterrupt'> } = {},
) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-cli-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env: { LATCHKEY_CONFIG: path.join(dir, 'config.json'), LATCHKEY_ENDPOINT: ENDPOINT, LATCHKEY_TOKEN: TOKEN, ...options.env },
    fetch: api.fetch,
    readSecret: async () => options.secret ?? '',
    ...options.io,
  });
  return { code, stdout, stderr, configPath: path.join(dir, 'config.json') };
};
