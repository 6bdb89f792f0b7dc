import { execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdir, readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { agentBin } from './processes.ts';

/**
 * `latchkey-agent` as tests and benchmarks run it: enrolled from a temporary state directory, then
 * `run` as a child whose JSON log lines are parsed as they come. No test framework here, so the
 * integration tests (test/support/agents.ts) and the benchmarks (bench/) share it.
 */

/** A Unix user (and its primary group) by number. */
export type UnixUser = { name: string; uid: number; gid: number };

export type AgentSetup = {
  /**
   * The user `latchkey-agent` runs as, holding CAP_SETUID and CAP_SETGID and nothing else, as the
   * README's systemd unit runs it (here through setpriv, so the caller must be root). This
   * process's own user when omitted.
   */
  user?: UnixUser;
  /** The release user and releases directory `init` gets: needed by an agent that installs releases. */
  install?: { releaseUser: string; releasesDir: string };
};

/** The command line that runs `latchkey-agent args…` as `user` (see AgentSetup.user). */
const agentCommand = (args: string[], user: UnixUser | undefined): [string, string[]] =>
  user
    ? [
        'setpriv',
        [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--inh-caps=+setuid,+setgid', '--ambient-caps=+setuid,+setgid', '--', process.execPath, agentBin, ...args],
      ]
    : [process.execPath, [agentBin, ...args]];

/** `latchkey-agent` run to completion (init, enrol, run --once); an error holding its output if it fails. */
export const agentCli = async (args: string[], env: Record<string, string> = {}, user?: UnixUser) => {
  const [command, argv] = agentCommand(args, user);
  try {
    return await promisify(execFile)(command, argv, { env: { ...process.env, ...env }, timeout: 45_000 });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; code?: number };
    throw new Error(`latchkey-agent ${args[0]} exited with ${e.code}:\n${e.stderr ?? ''}${e.stdout ?? ''}`, { cause: error });
  }
};

/** The fingerprint `latchkey-agent init` and `enrol` print, which the owner confirms the agent with. */
export const fingerprintIn = (printed: string) => {
  const match = /agent fingerprint:\s+([0-9a-f]{64})/.exec(printed);
  if (!match) throw new Error(`no agent fingerprint in:\n${printed}`);
  return match[1]!;
};

/**
 * The agent's side of enrolment, as an operator runs it: init with the owner key, enrol with the
 * token in its environment. Answers what the operator reads to the owner: the agent id and
 * fingerprint `enrol` printed (the owner then runs `latchkey agents confirm`).
 */
export const initAndEnrol = async (state: string, options: { endpoint: string; ownerKey: string; token: string; name: string; setup?: AgentSetup }) => {
  const { user, install } = options.setup ?? {};
  const releaseArgs = install ? ['--release-user', install.releaseUser, '--releases', install.releasesDir] : [];
  await agentCli(['init', '--state', state, '--endpoint', options.endpoint, '--owner-key', options.ownerKey, ...releaseArgs], {}, user);
  const enrolled = await agentCli(['enrol', '--state', state, '--name', options.name], { LATCHKEY_ENROLMENT_TOKEN: options.token }, user);
  const { enrolment } = JSON.parse(await readFile(path.join(state, 'state.json'), 'utf8')) as { enrolment: { agentId: string; queueUrl: string } };
  return { name: options.name, state, agentId: enrolment.agentId, queueUrl: enrolment.queueUrl, fingerprint: fingerprintIn(enrolled.stdout) };
};

export type AgentLogLine = Record<string, unknown> & { msg: string; time?: string };

/** `latchkey-agent run` as a long-lived child: every line it writes is kept (`output`) and its JSON log lines parsed (`log`). */
export const spawnAgent = (state: string, options: { logLevel?: 'debug' | 'info'; user?: UnixUser; args?: string[] } = {}) => {
  const [command, argv] = agentCommand(['--log-level', options.logLevel ?? 'info', 'run', '--state', state, ...(options.args ?? [])], options.user);
  const child = spawn(command, argv, { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const log: AgentLogLine[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      output.push(line);
      if (line.startsWith('{')) log.push(JSON.parse(line) as AgentLogLine);
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return { child, output, log, kill, exited };
};

/**
 * Release isolation for the demo's and the benchmarks' targets on this machine (README, "Agents:
 * release isolation"): run as root, the agents stay root and release code runs as `nobody`, a
 * user every Linux has and that owns nothing, in `dir` (created, owned by it; `dir`'s parents
 * must let it through). A dedicated user is what a real machine gets; the demo adds no user to a
 * developer's machine. Not root: there is no way to start processes as another user, and the
 * error says so.
 */
export const localReleaseSetup = async (dir: string): Promise<NonNullable<AgentSetup['install']> & { user: UnixUser }> => {
  if (userInfo().uid !== 0) {
    throw new Error(
      `a target runs release code as a user of its own, which takes root to set up here (you are ${userInfo().username}): run it with sudo, or see README, "Agents: release isolation"`,
    );
  }
  const { stdout } = await promisify(execFile)('getent', ['passwd', 'nobody']);
  const [name, , uid, gid] = stdout.trim().split(':');
  const user = { name: name!, uid: Number(uid), gid: Number(gid) };
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chown(dir, user.uid, user.gid);
  await chmod(dir, 0o755);
  return { releaseUser: user.name, releasesDir: dir, user };
};
