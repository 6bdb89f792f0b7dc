import { execFile } from 'node:child_process';
import { access, chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { toB64 } from '#shared/protocol/trust.ts';
import { agentCli as agentCliAs, type UnixUser } from '#local/demo/agent-process.ts';
import { agentBin } from '#local/demo/processes.ts';
import { enrolThroughCli, runAgentProcess, unixUsers } from '../support/agents.ts';
import { cliSession } from './cli/run-cli.ts';

/**
 * Issue 17: an agent installs releases only with release isolation in place (DESIGN §6), and
 * `latchkey-agent init` checks the setup and says precisely what is wrong, before it writes
 * anything; `enrol` and `run` refuse an agent that would install releases without it.
 */

const failure = (error: unknown) => (error as Error).message;

/** A directory for one agent: its state goes in `state` (not made yet); `releases` is made as asked. */
const machine = async (releases: { owner?: UnixUser | 'root'; create?: boolean } = {}) => {
  const { agent, release } = unixUsers();
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-setup-it-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  await chown(dir, agent.uid, agent.gid);
  await chmod(dir, 0o755);
  const releasesDir = path.join(dir, 'releases');
  if (releases.create !== false) {
    await mkdir(releasesDir, { mode: 0o755 });
    const owner = releases.owner ?? release;
    if (owner !== 'root') await chown(releasesDir, owner.uid, owner.gid);
  }
  return { state: path.join(dir, 'state'), releasesDir };
};

/** `latchkey-agent init` as the agents' user, with CAP_SETUID/CAP_SETGID (or, `withoutCaps`, with none). */
const init = async (state: string, releaseUser: string, releasesDir: string, options: { withoutCaps?: boolean } = {}) => {
  const args = ['init', '--state', state, '--endpoint', 'http://127.0.0.1:9', '--owner-key', toB64(generateRawKeyPair('ed25519').publicKey), '--release-user', releaseUser, '--releases', releasesDir];
  const { agent } = unixUsers();
  if (!options.withoutCaps) return agentCliAs(args, {}, agent);
  return promisify(execFile)('setpriv', [`--reuid=${agent.uid}`, `--regid=${agent.gid}`, '--init-groups', '--', process.execPath, agentBin, ...args]).catch((error: { stderr: string }) => {
    throw new Error(error.stderr);
  });
};

const nothingWritten = (state: string) => expect(access(state)).rejects.toThrow();

describe('latchkey-agent init checks release isolation and says what is wrong', () => {
  it('sets up an agent whose release code runs as the release user', async () => {
    const { release } = unixUsers();
    const { state, releasesDir } = await machine();
    const { stdout } = await init(state, release.name, releasesDir);
    expect(stdout).toContain(`release code runs as:   ${release.name} (uid ${release.uid}), in ${releasesDir}`);
  });

  it('refuses root as the release user', async () => {
    const { state, releasesDir } = await machine();
    expect(failure(await init(state, 'root', releasesDir).catch((e) => e))).toContain('release user root is root (uid 0, gid 0): release code must never run as root');
    await nothingWritten(state);
  });

  it('refuses the agent’s own user as the release user', async () => {
    const { agent } = unixUsers();
    const { state, releasesDir } = await machine({ owner: agent });
    expect(failure(await init(state, agent.name, releasesDir).catch((e) => e))).toContain(
      `release user ${agent.name} is this agent's own user (uid ${agent.uid}): release code could read the agent's keys; create another one with \`useradd --system --user-group`,
    );
    await nothingWritten(state);
  });

  it('refuses a user that does not exist, saying how to create it', async () => {
    const { state, releasesDir } = await machine();
    expect(failure(await init(state, 'no-such-release-user', releasesDir).catch((e) => e))).toContain(
      'there is no user "no-such-release-user" on this machine: create it with `useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin no-such-release-user`',
    );
    await nothingWritten(state);
  });

  it('refuses an agent that cannot switch users (no CAP_SETUID/CAP_SETGID), saying how to give it them', async () => {
    const { release } = unixUsers();
    const { state, releasesDir } = await machine();
    const message = failure(await init(state, release.name, releasesDir, { withoutCaps: true }).catch((e) => e));
    expect(message).toContain(`this agent (uid ${unixUsers().agent.uid}) cannot start processes as another user: it needs CAP_SETUID and CAP_SETGID. Run it from the systemd unit in the README (AmbientCapabilities=CAP_SETUID CAP_SETGID)`);
    await nothingWritten(state);
  });

  it('refuses a releases directory that is missing, the release user’s not, or around the state directory', async () => {
    const { release } = unixUsers();
    const missing = await machine({ create: false });
    expect(failure(await init(missing.state, release.name, missing.releasesDir).catch((e) => e))).toContain(
      `the releases directory ${missing.releasesDir} does not exist: create it with \`install -d -o ${release.name} -g ${release.gid} -m 0755 ${missing.releasesDir}\``,
    );
    await nothingWritten(missing.state);
    const rootOwned = await machine({ owner: 'root' });
    expect(failure(await init(rootOwned.state, release.name, rootOwned.releasesDir).catch((e) => e))).toContain(
      `the releases directory ${rootOwned.releasesDir} belongs to uid 0, not to ${release.name}: run \`chown ${release.name}: ${rootOwned.releasesDir}\``,
    );
    await nothingWritten(rootOwned.state);
    const around = await machine();
    const inside = path.join(around.releasesDir, 'state');
    expect(failure(await init(inside, release.name, around.releasesDir).catch((e) => e))).toContain(
      `the agent's state directory ${inside} is inside the releases directory ${around.releasesDir}, which release code owns`,
    );
    await nothingWritten(inside);
  });
});

describe('an agent that would install releases without isolation is refused', () => {
  it('enrol refuses a key server enrolment naming environments for an agent without a release user, before registering; run refuses one whose isolation broke', { timeout: 120_000 }, async () => {
    // Prepare: an owner, an environment, a key server enrolment that also names it.
    const cli = await cliSession();
    await cli.signup();
    await cli.json(['envs', 'create', 'dev']);
    const enrolment = await cli.json<{ token: string; ownerKey: string }>(['enrolments', 'create', '--role', 'keyserver', '--env', 'dev']);
    const { agent } = unixUsers();
    const { state } = await machine();

    // Act 1: init without --release-user, then enrol with that token.
    await agentCliAs(['init', '--state', state, '--endpoint', cli.endpoint, '--owner-key', enrolment.ownerKey], {}, agent);
    const refused = await agentCliAs(['enrol', '--state', state, '--name', 'k-no-isolation'], { LATCHKEY_ENROLMENT_TOKEN: enrolment.token }, agent).catch((e) => e);

    // Assess 1: refused, saying why; the backend never heard of it.
    expect(failure(refused)).toMatch(
      /this key server's enrolment also names environments \(env_[0-9a-f]{32}\), so it would install releases, which a key server may do only with release isolation in place, and this agent has no release user: release code would run as the agent's own user, which can read its keys/,
    );
    expect(await cli.json<unknown[]>(['agents', 'list'])).toEqual([]);

    // Act 2: a key server set up properly, enrolled; then its releases directory changes hands.
    const enrolled = await enrolThroughCli(cli, 'k-isolated', 'keyserver', ['dev']);
    await chown(enrolled.releasesDir, 0, 0);
    const started = runAgentProcess(enrolled.state);

    // Assess 2: it does not start, and says why.
    expect(await started.exited).not.toBe(0);
    expect(started.output.join('\n')).toContain(
      `so it would install releases, which a key server may do only with release isolation in place; release isolation is not in place:\n  - the releases directory ${enrolled.releasesDir} belongs to uid 0, not to ${unixUsers().release.name}`,
    );
  });
});
