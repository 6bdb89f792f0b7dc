import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { UsageError } from './errors.ts';

export type Env = Record<string, string | undefined>;

/** What `login` keeps. The token is a bearer secret, hence the 0600 file in a 0700 directory. */
export const storedConfig = z.object({
  endpoint: z.string().optional(),
  token: z.string().optional(),
});
export type StoredConfig = z.infer<typeof storedConfig>;

export const configPath = (env: Env): string =>
  env.LATCHKEY_CONFIG || path.join(env.XDG_CONFIG_HOME || path.join(homedir(), '.config'), 'latchkey', 'config.json');

export type LoadedConfig = { config: StoredConfig; path: string; exists: boolean; tooOpen: boolean };

export const readConfig = async (file: string): Promise<LoadedConfig> => {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { config: {}, path: file, exists: false, tooOpen: false };
    throw new UsageError(`Cannot read the config file ${file}: ${(error as Error).message}`);
  }
  let parsed: StoredConfig;
  try {
    parsed = storedConfig.parse(JSON.parse(text));
  } catch {
    throw new UsageError(`The config file ${file} is not valid`, { hint: 'Run `latchkey login` again, or delete the file.' });
  }
  // Like ssh with a private key: a token others can read is worth a warning on every use.
  const tooOpen = process.platform !== 'win32' && ((await stat(file)).mode & 0o077) !== 0;
  return { config: parsed, path: file, exists: true, tooOpen };
};

/**
 * Writes the whole file atomically with mode 0600: a temporary file created 0600 in the same
 * directory, then renamed over the old one, so there is never a moment where the token sits in a
 * file with wider permissions, and a crash never leaves half a file. Only directories this call
 * creates get 0700; an existing one (say $HOME/.config) is not ours to change.
 */
export const writeConfig = (file: string, config: StoredConfig): Promise<void> => writePrivateFile(file, `${JSON.stringify(storedConfig.parse(config), null, 2)}\n`);

/** Any file of the CLI's that only its user may read (config, pins), written as writeConfig says. */
export const writePrivateFile = async (file: string, content: string): Promise<void> => {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await chmod(temporary, 0o600); // the umask can only narrow the mode, but be explicit
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
};

export type Session = { endpoint: string | undefined; token: string | undefined };

/** The environment wins over the file, so CI can run without a config file at all. */
export const resolveSession = (env: Env, stored: StoredConfig): Session => ({
  endpoint: env.LATCHKEY_ENDPOINT || stored.endpoint,
  token: env.LATCHKEY_TOKEN || stored.token,
});

/** An endpoint is an http(s) URL; the trailing slash goes so paths join cleanly. */
export const normaliseEndpoint = (value: string): string => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`The endpoint must be a URL like https://api.example.com, not ${JSON.stringify(value)}`, { field: 'endpoint' });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError('The endpoint must be an http:// or https:// URL', { field: 'endpoint' });
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new UsageError('The endpoint must not carry a query, fragment or credentials', { field: 'endpoint' });
  }
  return url.href.replace(/\/+$/, '');
};

/** Plain HTTP is fine on this machine (the local stack); anywhere else it would expose the token. */
export const isCleartextRemote = (endpoint: string): boolean => {
  const url = new URL(endpoint);
  return url.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
};
