import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { RequestRefused } from '../handlers/types.ts';
import { runAsReleaseUser, type CommandResult, type Isolation } from '../isolation/release-user.ts';

/**
 * Where a target keeps an application, in the releases directory the release user owns (outside
 * the agent's state directory, DESIGN §6):
 *
 *   <releases>/<appId>/releases/<ms since epoch>-<deploymentId>/   one directory per installed release
 *   <releases>/<appId>/current -> releases/…                       the live one (a symlink, switched by rename)
 *   <releases>/<appId>/incoming/<name>/                            a release being unpacked as it downloads;
 *                                                                  moved into releases/ only once it verified
 *
 * Every change to it is made by the release user, through the fixed shell programs below (their
 * arguments are positional parameters, never spliced into them): the agent never opens, lists or
 * removes a path there with its own rights, so a symlink a release planted cannot turn the agent
 * against its own state.
 */
export const appTree = (releasesDir: string, appId: string) => {
  const root = posix.join(releasesDir, appId);
  return { root, releases: posix.join(root, 'releases'), incoming: posix.join(root, 'incoming'), current: posix.join(root, 'current') };
};
export type AppTree = ReturnType<typeof appTree>;

/** Names sort by install time: the prefix is a fixed-width millisecond timestamp. */
export const releaseDirName = (at: number, deploymentId: string) => `${String(at).padStart(15, '0')}-${deploymentId}`;
const RELEASE_DIR_NAME = /^\d{15}-dep_[0-9a-f]{32}$/;

const PROGRAMS = {
  // Installs run one at a time (queue-loop.ts): whatever is in incoming/ is left from one that died.
  prepare: 'mkdir -p -- "$1/releases" && rm -rf -- "$1/incoming" && mkdir -- "$1/incoming"',
  promote: 'exec mv -T -- "$1" "$2"',
  // The archive comes on stdin, as plain tar (the agent decompresses it: archive.ts tarStream);
  // tar refuses members with `..` and links out of the tree, and exits 2.
  extract: 'mkdir -- "$1" && exec tar -x -f - -C "$1" --no-same-owner',
  // NUL-separated paths, relative to $1, on stdin.
  remove: 'cd -- "$1" && exec xargs -0 -r rm -rf --',
  removeDir: 'exec rm -rf -- "$1"',
  // A new symlink renamed over `current`: one step, never a moment without one.
  switchCurrent: 'cd -- "$1" && ln -s -- "releases/$2" "$3" && exec mv -T -- "$3" current',
  current: 'if [ -L "$1/current" ]; then readlink -- "$1/current"; fi',
  list: 'if [ -d "$1/releases" ]; then ls -1A -- "$1/releases"; fi',
} as const;

export type ReleaseTree = ReturnType<typeof releaseTree>;

export const statusOf = (result: Pick<CommandResult, 'code' | 'signal'>) =>
  result.code === null ? `was stopped by ${result.signal}` : `exited with status ${result.code}`;

/**
 * The release tree operations, as the release user; each failure is a refusal naming what failed.
 * What the commands print on failure (file names of the release) goes to `local`, the agent's
 * local scripts log, not into the refusal.
 */
export const releaseTree = (isolation: Isolation, timeoutMs: number, local: (text: string) => void) => {
  const run = async (what: string, program: keyof typeof PROGRAMS, args: string[], input?: Readable | string): Promise<CommandResult> => {
    let result: CommandResult;
    try {
      result = await runAsReleaseUser(isolation, PROGRAMS[program], args, { timeoutMs, ...(input === undefined ? {} : { input }) });
    } catch (error) {
      throw new RequestRefused('IsolationFailed', `${what}: the release user ${isolation.user.name} could not be started (${(error as Error).message})`);
    }
    return result;
  };
  const check = (what: string, code: string) => (result: CommandResult) => {
    if (result.code === 0) return result;
    local(`--- ${what} failed (${statusOf(result)})\n${result.stderr}`);
    throw new RequestRefused(code, `${what} failed: the release user's command ${statusOf(result)}`);
  };

  return {
    prepare: (tree: AppTree) => run('preparing the release tree', 'prepare', [tree.root]).then(check(`preparing ${tree.root}`, 'IsolationFailed')),
    /** Moves a verified release from incoming/ to its place in releases/. */
    promote: (from: string, to: string) => run('moving the release into place', 'promote', [from, to]).then(check(`moving ${from} to ${to}`, 'IsolationFailed')),
    /** Unpacks the plain tar stream `input` into the new directory `dir`; resolves once tar has exited, whatever it did. */
    extract: (dir: string, input: Readable) => run('unpacking the release', 'extract', [dir], input),
    remove: (dir: string, paths: readonly string[]) =>
      paths.length === 0 ? Promise.resolve() : run('removing excluded files', 'remove', [dir], paths.map((p) => `${p}\0`).join('')).then(check('removing the files latchkey.yml does not include', 'UnpackFailed')),
    removeDir: (dir: string) => run(`removing ${dir}`, 'removeDir', [dir]).then(check(`removing ${dir}`, 'IsolationFailed')),
    switchCurrent: (tree: AppTree, name: string) =>
      run('switching current', 'switchCurrent', [tree.root, name, `current.${name}`]).then(check(`switching current to ${name}`, 'IsolationFailed')),
    /** The release directory `current` points to, if any. */
    current: async (tree: AppTree) => {
      const target = (await run('reading current', 'current', [tree.root])).stdout.trim();
      return target ? posix.basename(target) : undefined;
    },
    /** Keeps the newest `keep` release directories and the current one; removes the rest. */
    prune: async (tree: AppTree, keep: number) => {
      const current = (await run('reading current', 'current', [tree.root])).stdout.trim();
      const names = (await run('listing releases', 'list', [tree.root])).stdout.split('\n').filter((name) => RELEASE_DIR_NAME.test(name));
      const removed = names.sort().reverse().slice(keep).filter((name) => posix.basename(current) !== name);
      if (removed.length) await run('pruning releases', 'remove', [tree.releases], removed.map((p) => `${p}\0`).join('')).then(check('pruning old releases', 'IsolationFailed'));
      return removed;
    },
  };
};
