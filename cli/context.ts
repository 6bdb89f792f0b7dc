import type { Command } from 'commander';
import { createApiClient, type ApiClient } from './api-client.ts';
import type { Fetch } from './http-fetch.ts';
import { configPath, readConfig, resolveSession, type Env, type LoadedConfig } from './config.ts';
import { UsageError } from './errors.ts';
import { Output, type Writer } from './output.ts';

/** Everything the CLI touches outside itself, passed in so tests can run it in-process. */
export type Io = {
  stdout: Writer;
  stderr: Writer;
  env: Env;
  fetch: Fetch;
  readSecret: (prompt: string) => Promise<string>;
  /** Whether stdout is a terminal (`status --watch` redraws in place there); false if not given. */
  isTTY?: boolean;
  /** Whether stderr is a terminal (push redraws its progress line in place there); false if not given. */
  stderrIsTTY?: boolean;
  /** The terminal's width, to count the rows a redraw has to move over. */
  columns?: number | undefined;
  /** Waits between polls; tests pass one that returns at once. */
  sleep?: (ms: number) => Promise<void>;
  /** Calls `handler` on Ctrl-C until the returned function is called. */
  onInterrupt?: (handler: () => void) => () => void;
};

export type Context = {
  io: Io;
  configPath: string;
  output: (command: Command) => Output;
  loadConfig: () => Promise<LoadedConfig>;
  /** A client for the saved (or LATCHKEY_*) endpoint and token. */
  client: () => Promise<ApiClient>;
  clientFor: (endpoint: string, token?: string) => ApiClient;
};

export const createContext = (io: Io): Context => {
  const path = configPath(io.env);
  let loaded: Promise<LoadedConfig> | undefined;
  const loadConfig = () => {
    loaded ??= readConfig(path).then((config) => {
      if (config.tooOpen) io.stderr(`Warning: ${path} can be read by other users; run: chmod 600 ${path}\n`);
      return config;
    });
    return loaded;
  };
  const clientFor = (endpoint: string, token?: string) => createApiClient({ endpoint, token, fetch: io.fetch });
  return {
    io,
    configPath: path,
    output: (command) => new Output(io.stdout, io.stderr, Boolean(command.optsWithGlobals().json)),
    loadConfig,
    clientFor,
    client: async () => {
      const session = resolveSession(io.env, (await loadConfig()).config);
      if (!session.endpoint) {
        throw new UsageError('No API endpoint is configured', { hint: 'Run `latchkey login --endpoint URL` (or set LATCHKEY_ENDPOINT).' });
      }
      if (!session.token) throw new UsageError('Not logged in', { hint: 'Run `latchkey login` (or set LATCHKEY_TOKEN).' });
      return clientFor(session.endpoint, session.token);
    },
  };
};
