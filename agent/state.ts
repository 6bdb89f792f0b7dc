import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { accountId, environmentId, enrolmentId } from '#shared/protocol/common.ts';
import { agentId } from '#shared/protocol/agent-messages.ts';
import { agentProof, agentRole, publicKey32 } from '#shared/protocol/trust.ts';
import { StateError } from './errors.ts';

/**
 * The agent's state directory: its key file (written by shared/crypto), `state.json` (endpoint,
 * pinned owner key, enrolment) and the request journal. Everything is private to the agent's
 * user, and the agent refuses to start if it is not: a readable key file is a leaked key.
 */
export const statePaths = (dir: string) => ({
  dir,
  keys: join(dir, 'agent.key'),
  state: join(dir, 'state.json'),
  journal: join(dir, 'journal.jsonl'),
  masters: join(dir, 'masters.json'),
  /** The highest version of each owner statement seen (statement-pins.ts). */
  statements: join(dir, 'statements.json'),
  /** Deployments this key server granted: one grant per deployment id. */
  granted: join(dir, 'granted.json'),
  /** Deploy scripts' output: stays on this machine, readable only by the agent (agent/target/script-log.ts). */
  scriptsLog: join(dir, 'scripts.log'),
  /** Releases being downloaded and decrypted; emptied after each deployment. */
  staging: join(dir, 'staging'),
});

export const enrolmentState = z.strictObject({
  accountId,
  agentId,
  enrolmentId,
  role: agentRole,
  environments: z.array(environmentId),
  queueUrl: z.string(),
  enrolledAt: z.string(),
  /** The agent's own proof, as peers will check it; kept for diagnostics and re-checks. */
  proof: agentProof,
});
export type EnrolmentState = z.infer<typeof enrolmentState>;

/**
 * Who runs release code, and where (set at init, checked at init, enrol and run): needed by an
 * agent whose enrolment names environments, which installs releases (agent/isolation/).
 */
export const installSettings = z.strictObject({
  releaseUser: z.string().min(1).max(32),
  /** The release tree's root, owned by the release user, outside the state directory. */
  releasesDir: z.string().min(1).max(1024),
});

export const agentState = z.strictObject({
  v: z.literal(1),
  endpoint: z.string().url(),
  /** The owner's Ed25519 public key (base64url), pinned at init: the root of all trust. */
  ownerKey: publicKey32,
  install: installSettings.optional(),
  enrolment: enrolmentState.optional(),
});
export type AgentState = z.infer<typeof agentState>;

const modeOf = (mode: number) => (mode & 0o777).toString(8).padStart(3, '0');

/** Refuses a path that group or others can access, or that another user owns (like ssh). */
export const assertPrivate = async (path: string, kind: 'directory' | 'file') => {
  const info = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new StateError(`${path} does not exist: run \`latchkey-agent init\` first`);
    throw error;
  });
  if (kind === 'directory' ? !info.isDirectory() : !info.isFile()) {
    // lstat, so a symlink is refused too: it could point anywhere the attacker likes.
    throw new StateError(`${path} is not a ${kind}`);
  }
  if ((info.mode & 0o077) !== 0) {
    throw new StateError(`${path} has mode ${modeOf(info.mode)}; it must not be accessible by group or others: run chmod ${kind === 'directory' ? 700 : 600} ${path}`);
  }
  if (typeof process.getuid === 'function' && info.uid !== process.getuid()) {
    throw new StateError(`${path} belongs to another user`);
  }
};

const exists = async (path: string) =>
  lstat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );

/** A private state file's text, after checking it is ours and 0600; undefined when it does not exist yet. */
export const readPrivateFile = async (path: string): Promise<string | undefined> => {
  if (!(await exists(path))) return undefined;
  await assertPrivate(path, 'file');
  return readFile(path, 'utf8');
};

/** Creates the state directory (0700), or accepts an existing private, uninitialised one. */
export const createStateDir = async (dir: string) => {
  const paths = statePaths(dir);
  if (await exists(dir)) {
    await assertPrivate(dir, 'directory');
    if ((await exists(paths.state)) || (await exists(paths.keys))) {
      throw new StateError(`${dir} already holds an agent; use another directory (keys are never overwritten)`);
    }
    return paths;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700); // mkdir's mode is filtered by the umask; make it exact
  return paths;
};

/** Writes a whole file, mode 0600, through a temporary name and rename: never seen half-written. */
export const writePrivateFile = async (path: string, content: string) => {
  const temp = `${path}.${randomBytes(6).toString('hex')}.partial`;
  const fh = await open(temp, 'wx', 0o600);
  try {
    await fh.chmod(0o600);
    await fh.writeFile(content);
    await fh.sync();
    await fh.close();
    await rename(temp, path);
  } catch (error) {
    await fh.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw error;
  }
};

export const writeState = (dir: string, state: AgentState) => writePrivateFile(statePaths(dir).state, `${JSON.stringify(agentState.parse(state), null, 2)}\n`);

/** Reads state.json after checking that the directory and the files in it are private. */
export const readState = async (dir: string): Promise<AgentState> => {
  const paths = statePaths(dir);
  await assertPrivate(dir, 'directory');
  await assertPrivate(paths.state, 'file');
  await assertPrivate(paths.keys, 'file');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(paths.state, 'utf8'));
  } catch {
    throw new StateError(`${paths.state} is not valid JSON`);
  }
  const parsed = agentState.safeParse(raw);
  if (!parsed.success) throw new StateError(`${paths.state} is not a valid agent state file`);
  return parsed.data;
};

/** The state of an enrolled agent; `run` needs it. */
export const requireEnrolled = (state: AgentState): AgentState & { enrolment: EnrolmentState } => {
  if (!state.enrolment) throw new StateError('this agent is not enrolled yet: run `latchkey-agent enrol` first');
  return state as AgentState & { enrolment: EnrolmentState };
};
