import { execFile, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { access, constants, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

/**
 * The Unix user release code runs as (DESIGN §6, agent isolation): archive extraction and every
 * latchkey.yml script. It is never root and never the agent's own user, so it can neither read
 * the agent's state directory (0700, the agent's) nor signal or trace the agent's process.
 */
export type ReleaseUser = { name: string; uid: number; gid: number; home: string };

/** The isolation an agent that installs releases runs with: who runs release code, where, and through what. */
export type Isolation = { user: ReleaseUser; releasesDir: string; setpriv: string };

/** util-linux's setpriv: the one program the agent starts with its CAP_SETUID/CAP_SETGID. */
const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv'];

/** Capability numbers (linux/capability.h). */
export const CAP_SETGID = 6;
export const CAP_SETUID = 7;

/** Where setpriv is, if it is installed where the agent looks for it. */
export const findSetpriv = async () => {
  for (const path of SETPRIV_PATHS) {
    if (await access(path, constants.X_OK).then(() => true, () => false)) return path;
  }
  return undefined;
};

/** The passwd entry of `name`, through NSS (getent), so users from LDAP and the like count too. */
export const lookupUser = async (name: string): Promise<ReleaseUser | undefined> => {
  if (!/^[a-z_][a-z0-9_.-]{0,31}\$?$/i.test(name)) return undefined;
  const { stdout } = await promisify(execFile)('getent', ['passwd', '--', name]).catch(() => ({ stdout: '' }));
  const [user, , uid, gid, , home] = stdout.trim().split(':');
  if (user !== name || !uid || !gid) return undefined;
  return { name, uid: Number(uid), gid: Number(gid), home: home || '/' };
};

/** Whether this process may set its uid and gid: root, or the two capabilities in its effective set. */
export const canSwitchUsers = async () => {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const effective = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (!effective) return false;
  const caps = BigInt(`0x${effective}`);
  return ((caps >> BigInt(CAP_SETUID)) & 1n) === 1n && ((caps >> BigInt(CAP_SETGID)) & 1n) === 1n;
};

/**
 * setpriv's arguments to become the release user: its uid, gid and groups, and none of the
 * agent's capabilities, not even across exec (inheritable and ambient sets emptied); with
 * no_new_privs, set-uid programs such as sudo cannot raise it either. Checked on Linux 6: a
 * child Node spawns with `uid`/`gid` from an agent holding ambient CAP_SETUID keeps that
 * capability (a change between two non-zero uids clears nothing), so the agent never does that.
 */
const becomeReleaseUser = (user: ReleaseUser) => [
  `--reuid=${user.uid}`,
  `--regid=${user.gid}`,
  '--init-groups',
  '--inh-caps=-all',
  '--ambient-caps=-all',
  '--no-new-privs',
  '--',
];

/**
 * Changes to `dir` as the release user, then runs the command: the agent never resolves a path of
 * the release tree itself, where a release could have planted a symlink into the agent's state.
 */
const IN_DIR = 'cd -- "$1" || exit 125; shift; exec "$@"';

/**
 * Starts `command` as the release user in `cwd`, with exactly `env`, as the leader of a process
 * group of its own (detached: setsid), so that it can be stopped with everything it started.
 */
export const spawnAsReleaseUser = (
  isolation: Isolation,
  command: string,
  args: readonly string[],
  options: { cwd: string; env: Record<string, string>; stdio: StdioOptions },
): ChildProcess =>
  spawn(isolation.setpriv, [...becomeReleaseUser(isolation.user), '/bin/sh', '-c', IN_DIR, 'latchkey-release', options.cwd, command, ...args], {
    cwd: '/',
    env: options.env,
    stdio: options.stdio,
    detached: true,
  });

/** The environment of the agent's own commands run as the release user (mkdir, tar, rm…): fixed. */
export const COMMAND_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const commandEnv = (user: ReleaseUser) => ({ PATH: COMMAND_PATH, HOME: user.home, LANG: 'C.UTF-8' });

export type CommandResult = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/**
 * Runs one of the agent's own shell programs as the release user: `program` is fixed text, its
 * arguments are positional parameters (never spliced into it), `input` is written to its stdin.
 * Output is kept up to 64 KiB each. Killed with its group after `timeoutMs`.
 */
export const runAsReleaseUser = (
  isolation: Isolation,
  program: string,
  args: readonly string[],
  options: { cwd?: string; input?: NodeJS.ReadableStream | string; timeoutMs: number },
): Promise<CommandResult> =>
  new Promise((resolve, reject) => {
    const child = spawnAsReleaseUser(isolation, '/bin/sh', ['-c', program, 'latchkey', ...args], {
      cwd: options.cwd ?? '/',
      env: commandEnv(isolation.user),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out = { stdout: '', stderr: '' };
    for (const name of ['stdout', 'stderr'] as const) {
      child[name]!.setEncoding('utf8').on('data', (chunk: string) => {
        if (out[name].length < 65_536) out[name] += chunk;
      });
    }
    // EPIPE when the program stops reading (tar refusing an archive) is its exit status's to report.
    child.stdin!.on('error', () => {});
    if (typeof options.input === 'string' || options.input === undefined) child.stdin!.end(options.input ?? '');
    else options.input.pipe(child.stdin!);
    const timer = setTimeout(() => void killGroup(isolation, child.pid!), options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ...out });
    });
  });

/**
 * SIGKILL to every process of the group `pgid`. The agent's own uid may not signal the release
 * user's processes (which is what keeps release code from signalling the agent), so the signal is
 * sent by the release user itself.
 */
export const killGroup = (isolation: Isolation, pgid: number) =>
  new Promise<void>((resolve) => {
    const killer = spawn(isolation.setpriv, [...becomeReleaseUser(isolation.user), '/bin/sh', '-c', 'kill -s KILL -- "-$1" 2>/dev/null', 'latchkey-kill', String(pgid)], {
      cwd: '/',
      env: commandEnv(isolation.user),
      stdio: 'ignore',
    });
    killer.once('error', () => resolve());
    killer.once('close', () => resolve());
  });
