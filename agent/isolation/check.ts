import { lstat, realpath } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { StateError } from '../errors.ts';
import { canSwitchUsers, findSetpriv, lookupUser, runAsReleaseUser, type Isolation } from './release-user.ts';

/** What an agent that installs releases keeps in state.json: the release user and the release tree's root. */
export type InstallSettings = { releaseUser: string; releasesDir: string };

/** Setup that cannot give release code its own user: the message says each thing that is wrong and how to fix it. */
export class IsolationError extends StateError {}

const README = 'See README, "Agents: release isolation"';

const inside = (parent: string, child: string) => {
  const path = relative(parent, child);
  return path === '' || (!path.startsWith('..') && !isAbsolute(path));
};

const useraddLine = (name: string) => `useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ${name}`;

/**
 * Checks that release code can run as `releaseUser`, apart from this agent (DESIGN §6), and
 * answers the isolation to run it with; otherwise an IsolationError listing every problem found:
 *   1. Linux, with setpriv (util-linux) installed;
 *   2. the user exists, is not root (uid or gid 0) and is not the agent's own user;
 *   3. this process may switch users (root, or CAP_SETUID and CAP_SETGID, e.g. systemd's
 *      AmbientCapabilities=), or it cannot start processes as that user at all;
 *   4. the releases directory exists, is a real directory owned by that user, not writable by
 *      others, and neither inside the state directory nor around it;
 *   5. tried for real, as that user: it is that uid, can write the releases directory, and cannot
 *      list the state directory (when it exists yet).
 */
export const checkIsolation = async (settings: InstallSettings, stateDir: string): Promise<Isolation> => {
  const problems: string[] = [];
  const { releaseUser, releasesDir } = settings;
  if (process.platform !== 'linux' || typeof process.getuid !== 'function') {
    throw new IsolationError(`release code runs as a separate user only on Linux (this is ${process.platform}). ${README}.`);
  }
  const setpriv = await findSetpriv();
  if (!setpriv) problems.push('setpriv is not installed (package util-linux): the agent starts release code through it');

  const user = await lookupUser(releaseUser);
  const ownUid = process.getuid();
  if (!user) problems.push(`there is no user ${JSON.stringify(releaseUser)} on this machine: create it with \`${useraddLine(releaseUser)}\``);
  else if (user.uid === 0 || user.gid === 0) problems.push(`release user ${releaseUser} is root (uid ${user.uid}, gid ${user.gid}): release code must never run as root`);
  else if (user.uid === ownUid) {
    problems.push(`release user ${releaseUser} is this agent's own user (uid ${ownUid}): release code could read the agent's keys; create another one with \`${useraddLine('latchkey-release')}\``);
  }
  if (!(await canSwitchUsers())) {
    problems.push(
      `this agent (uid ${ownUid}) cannot start processes as another user: it needs CAP_SETUID and CAP_SETGID. ` +
        'Run it from the systemd unit in the README (AmbientCapabilities=CAP_SETUID CAP_SETGID), or give it them with ' +
        `\`setpriv --reuid=<agent user> --regid=<agent group> --init-groups --inh-caps=+setuid,+setgid --ambient-caps=+setuid,+setgid latchkey-agent …\``,
    );
  }

  if (!isAbsolute(releasesDir)) problems.push(`the releases directory ${releasesDir} must be an absolute path`);
  else {
    const info = await lstat(releasesDir).catch(() => undefined);
    const create = `install -d -o ${releaseUser} -g ${user ? user.gid : releaseUser} -m 0755 ${releasesDir}`;
    if (!info) problems.push(`the releases directory ${releasesDir} does not exist: create it with \`${create}\``);
    else if (!info.isDirectory()) problems.push(`${releasesDir} is not a directory${info.isSymbolicLink() ? ' (a symlink is not accepted)' : ''}`);
    else {
      if (user && info.uid !== user.uid) problems.push(`the releases directory ${releasesDir} belongs to uid ${info.uid}, not to ${releaseUser}: run \`chown ${releaseUser}: ${releasesDir}\``);
      if ((info.mode & 0o022) !== 0) problems.push(`group or others can write ${releasesDir} (mode ${(info.mode & 0o777).toString(8)}): run \`chmod go-w ${releasesDir}\``);
      const [releases, state] = await Promise.all([realpath(releasesDir), realpath(stateDir).catch(() => stateDir)]);
      if (inside(state, releases)) problems.push(`the releases directory ${releasesDir} is inside the agent's state directory ${stateDir}: release code must live outside it`);
      else if (inside(releases, state)) problems.push(`the agent's state directory ${stateDir} is inside the releases directory ${releasesDir}, which release code owns`);
    }
  }
  if (problems.length || !user || !setpriv) throw new IsolationError(`release isolation is not in place:\n  - ${problems.join('\n  - ')}\n${README}.`);

  const isolation: Isolation = { user, releasesDir, setpriv };
  await probe(isolation, stateDir);
  return isolation;
};

/** Step 5: as the release user, for real. */
const probe = async (isolation: Isolation, stateDir: string) => {
  const { user, releasesDir } = isolation;
  const program = [
    'id -u',
    'if [ -e "$1" ] && ls -a -- "$1" >/dev/null 2>&1; then echo state-listable; fi',
    'probe="$2/.latchkey-probe-$$"',
    'if mkdir -- "$probe" 2>/dev/null; then rmdir -- "$probe"; echo releases-writable; fi',
  ].join('\n');
  const result = await runAsReleaseUser(isolation, program, [stateDir, releasesDir], { timeoutMs: 10_000 }).catch((error: Error) => ({
    code: null,
    signal: null,
    stdout: '',
    stderr: error.message,
  }));
  const lines = result.stdout.trim().split('\n');
  const problems: string[] = [];
  if (lines[0] !== String(user.uid)) {
    problems.push(`starting a process as ${user.name} did not work (${result.stderr.trim().split('\n')[0] || `exit ${result.code ?? result.signal}`})`);
  } else {
    if (lines.includes('state-listable')) problems.push(`${user.name} can list the agent's state directory ${stateDir}: run \`chmod 700 ${stateDir}\``);
    if (!lines.includes('releases-writable')) problems.push(`${user.name} cannot write the releases directory ${releasesDir}: run \`chown ${user.name}: ${releasesDir}\``);
  }
  if (problems.length) throw new IsolationError(`release isolation is not in place:\n  - ${problems.join('\n  - ')}\n${README}.`);
};

/**
 * The isolation an enrolled agent installs releases with. An agent whose enrolment names
 * environments installs releases there (a target, or a key server that also serves them: the
 * seeds allow it), and does so only with release code apart from it; one that names none
 * installs nothing and needs none.
 */
export const isolationFor = async (
  install: InstallSettings | undefined,
  enrolment: { role: 'keyserver' | 'target'; environments: readonly string[] },
  stateDir: string,
): Promise<Isolation | undefined> => {
  if (enrolment.environments.length === 0) return undefined;
  const serves = enrolment.environments.join(', ');
  const what =
    enrolment.role === 'keyserver'
      ? `this key server's enrolment also names environments (${serves}), so it would install releases, which a key server may do only with release isolation in place`
      : `this target installs releases (for ${serves}) only with release isolation in place`;
  if (!install) {
    throw new IsolationError(
      `${what}, and this agent has no release user: release code would run as the agent's own user, which can read its keys. ` +
        `Initialise the agent with --release-user and --releases. ${README}.`,
    );
  }
  try {
    return await checkIsolation(install, stateDir);
  } catch (error) {
    if (error instanceof IsolationError) throw new IsolationError(`${what}; ${error.message}`);
    throw error;
  }
};
