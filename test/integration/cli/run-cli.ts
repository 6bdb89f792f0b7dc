import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { run as runInProcess } from '#cli/program.ts';
import { waitFor } from '../../support/clients.ts';
import { cliBin as bin } from '#local/demo/processes.ts';
import { whenTestEnds } from '../../support/test-scope.ts';

export type CliResult = { code: number | null; stdout: string; stderr: string };

/**
 * The real `latchkey` binary as a child process, started from a temporary directory (not the
 * repository) to prove it runs from anywhere, with its own config file and no LATCHKEY_* settings
 * leaking in from the test runner's environment.
 */
export const cliSession = async () => {
  const home = await mkdtemp(path.join(tmpdir(), 'latchkey-cli-it-'));
  whenTestEnds(() => rm(home, { recursive: true, force: true }));
  const configPath = path.join(home, 'config', 'latchkey.json');
  const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('LATCHKEY_')));

  const run = (args: string[], options: { env?: Record<string, string>; input?: string } = {}) =>
    new Promise<CliResult>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, ...args], {
        cwd: home,
        env: { ...baseEnv, HOME: home, LATCHKEY_CONFIG: configPath, ...options.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(options.input ?? '');
    });

  /** Runs with `--json` and parses stdout, failing with the CLI's own stderr when it did not succeed. */
  const json = async <T = any>(args: string[], options?: Parameters<typeof run>[1]): Promise<T> => {
    const result = await run([...args, '--json'], options);
    if (result.code !== 0) throw new Error(`latchkey ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  };

  let inProcessQueue: Promise<unknown> = Promise.resolve();

  /**
   * The same command line run by the CLI's own entry point (cli/program.ts `run`, which takes its
   * environment and output as arguments) inside this process, with this session's config: for the
   * looks a wait repeats (is the deployment over? do the key servers hold v2?) and the preparation
   * steps a test repeats (`routine`), which as child processes cost a tsx start-up (0.5–2 s) each
   * and load the machine the agents run on. The command's code and output are the binary's; a
   * wait takes its answer from the binary (see `until`).
   */
  const look = <T = any>(args: string[], options: { env?: Record<string, string> } = {}): Promise<T> => {
    const once = async () => {
      let stdout = '';
      let stderr = '';
      const code = await runInProcess([...args, '--json'], {
        stdout: (text) => void (stdout += text),
        stderr: (text) => void (stderr += text),
        env: { ...baseEnv, HOME: home, LATCHKEY_CONFIG: configPath, ...options.env },
        fetch: globalThis.fetch,
        readSecret: () => Promise.reject(new Error('an in-process run asks for no secret')),
      });
      if (code !== 0) throw new Error(`latchkey ${args.join(' ')} (in-process) exited ${code}:\n${stderr}`);
      return JSON.parse(stdout) as T;
    };
    // One at a time: the CLI names its temporary files by process id and millisecond, which
    // commands started together in one process (agents enrolled with Promise.all) would share.
    const result = inProcessQueue.then(once);
    inProcessQueue = result.catch(() => undefined);
    return result;
  };

  /**
   * Waits until `check` holds for the JSON `latchkey args --json` prints, and returns it: looks
   * in-process (`look`) until it holds, then asks the binary, whose answer must hold too (else the
   * wait goes on). One child process per wait, not one per look; the looks are at most 500 ms
   * apart (`status --watch` looks every second), as each is several API calls the stack serves
   * beside the work being waited for.
   */
  const until = async <T, R>(what: string, args: string[], check: (value: T) => R | undefined, timeoutMs: number, options: { env?: Record<string, string> } = {}): Promise<R> =>
    waitFor(
      what,
      async () => {
        if (check(await look<T>(args, options)) === undefined) return undefined;
        return check(await json<T>(args, options));
      },
      timeoutMs,
      500,
    );

  /** The commands (e.g. `agents confirm`) this session has run through the binary: see `routine`. */
  const ranAsBinary = new Set<string>();

  /**
   * A preparation step a test repeats (each agent's `enrolments create` and `agents confirm`):
   * through the binary the first time this session runs that command, in-process (`look`) after,
   * so every command still runs as a child process once and the repeats cost no tsx start-up.
   */
  const routine = async <T = any>(args: string[]): Promise<T> => {
    const command = args.filter((arg) => !arg.startsWith('-')).slice(0, 2).join(' ');
    if (ranAsBinary.has(command)) return look<T>(args);
    ranAsBinary.add(command);
    return json<T>(args);
  };

  const endpoint = inject('endpoints').api;

  /** A fresh account for this test alone, its owner token saved by `latchkey signup`. */
  const signup = async () => {
    const email = `owner-${randomUUID()}@example.com`;
    const created = await json<{ accountId: string; ownerId: string; tokenId: string }>([
      'signup', '--endpoint', endpoint, '--account', 'CLI test', '--name', 'Ada Lovelace', '--email', email,
    ]);
    return { ...created, email };
  };

  const savedConfig = async () => JSON.parse(await readFile(configPath, 'utf8')) as { endpoint?: string; token?: string };

  /**
   * A key file as `latchkey signup` (the owner key) or `login` (a person's signing key) leaves it
   * on a machine, for sessions of people a test made through the API.
   */
  const installKey = async (who: { kind: 'owner'; accountId: string } | { kind: 'signing'; accountId: string; userId: string }, keys: { publicKey: Uint8Array; privateKey: Uint8Array }) => {
    const file = path.join(path.dirname(configPath), who.kind === 'owner' ? `owner-key.${who.accountId}.json` : `signing-key.${who.userId}.json`);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
    await writeFile(file, JSON.stringify({ v: 1, ...who, publicKey: b64(keys.publicKey), privateKey: b64(keys.privateKey), createdAt: new Date().toISOString() }), { mode: 0o600 });
  };

  return { run, json, look, until, routine, signup, endpoint, home, configPath, savedConfig, installKey };
};
