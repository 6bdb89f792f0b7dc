import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fingerprintIn, type UnixUser } from '#local/demo/agent-process.ts';
import { writeDemoRelease } from '#local/demo/release-fixture.ts';
import { buildPackages, type Packages } from '../../packaging/build.ts';
import { DEB_PATHS, DEB_USERS } from '../../packaging/deb.ts';
import { unixUsers } from '../support/agents.ts';
import { waitFor } from '../support/clients.ts';

/**
 * The release files of `npm run package` as people install them, with nothing of this checkout
 * at hand (binaries run from a directory outside it, with a clean environment): the CLI and a key
 * server's agent from their npm tarballs in an empty prefix, a target's agent from the deb (as
 * root, its users and directories made by postinst), started as its systemd unit says. Through
 * them: an owner, an approver whose signed approval an environment needs, two key servers, a
 * secure application, a CI job's push and deployment (variables only), which the approver approves, installed by the target. Then
 * the deb is purged and nothing of it is left. One build; the stack is the integration run's.
 */

const endpoint = () => inject('endpoints').api;
/** What systemd gives a service: no NODE_PATH, nothing of the test runner's environment. */
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

let work: string;
let prefix: string;
let built: Packages;
let debInstalled = false;
const children: ChildProcess[] = [];

/** Runs a command to its end; its output, or an error holding it. */
const sh = (command: string, args: string[], options: { cwd?: string; env?: Record<string, string>; input?: string } = {}) =>
  new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? work, env: options.env ?? { PATH: SYSTEM_PATH }, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: 60_000 });
    // A command that exits without reading its input is no error of ours.
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve({ stdout, stderr }) : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr}${stdout}`))));
  });

/** No warning of Node's or the AWS SDK's: a packaged binary starts quietly. */
const expectQuiet = (stderr: string) => expect(stderr).not.toMatch(/Warning|\(node:\d+\)|NodeDeprecationWarning|AWS SDK for JavaScript/);

/** A person at their own machine: a home of their own and the installed `latchkey` on the PATH. */
const person = async (name: string) => {
  const home = path.join(work, name);
  await mkdir(home, { recursive: true });
  const env = { PATH: `${prefix}/bin:${path.dirname(process.execPath)}:${SYSTEM_PATH}`, HOME: home, LATCHKEY_CONFIG: path.join(home, 'latchkey.json'), LATCHKEY_ENDPOINT: endpoint() };
  const latchkey = async <T = any>(args: string[], input?: string): Promise<T> => {
    const { stdout, stderr } = await sh(path.join(prefix, 'bin', 'latchkey'), [...args, '--json'], { cwd: home, env, ...(input === undefined ? {} : { input }) });
    expectQuiet(stderr);
    return JSON.parse(stdout) as T;
  };
  return { home, latchkey };
};
type Person = Awaited<ReturnType<typeof person>>;

/**
 * A CI job as README "A CI job: push and deploy" sets it up: the installed CLI with nothing but
 * variables from the CI's secret store (a deployer token and signing key, the endpoint and owner
 * public key), in an empty home, no config file.
 */
const ciJob = (variables: { LATCHKEY_TOKEN: string; LATCHKEY_SIGNING_KEY: string; LATCHKEY_OWNER_KEY: string }) => {
  const home = path.join(work, 'ci-runner');
  const env = { PATH: `${prefix}/bin:${path.dirname(process.execPath)}:${SYSTEM_PATH}`, HOME: home, LATCHKEY_ENDPOINT: endpoint(), ...variables };
  return async <T = any>(args: string[]): Promise<T> => {
    await mkdir(home, { recursive: true });
    const { stdout, stderr } = await sh(path.join(prefix, 'bin', 'latchkey'), [...args, '--json'], { cwd: home, env });
    expectQuiet(stderr);
    return JSON.parse(stdout) as T;
  };
};

/** `latchkey-agent run` as a long-lived child, its JSON log lines parsed; killed in afterAll. */
const spawnLogged = (command: string, args: string[], env: Record<string, string>) => {
  const child = spawn(command, args, { cwd: '/', env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', (line) => lines.push(line));
  return { child, lines };
};

/** Runs `latchkey-agent` as `user` with CAP_SETUID and CAP_SETGID, as README "Agents: release isolation" says to. */
const asAgentUser = (user: string | UnixUser) => {
  const [uid, gid] = typeof user === 'string' ? [user, user] : [String(user.uid), String(user.gid)];
  return ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--inh-caps=+setuid,+setgid', '--ambient-caps=+setuid,+setgid', '--'];
};

/** The owner makes an enrolment: its token and the owner public key the agent pins. */
const enrolment = (owner: Person, role: 'keyserver' | 'target', envs: string[] = []) =>
  owner.latchkey<{ token: string; ownerKey: string }>(['enrolments', 'create', '--role', role, ...envs.flatMap((env) => ['--env', env])]);

/**
 * A key server from the agent's npm package: init and enrol as the run's agent user, confirmed by
 * the owner with the fingerprint `enrol` printed, then `run`.
 */
const startTarballKeyServer = async (owner: Person, name: string) => {
  const { agent } = unixUsers();
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  await chown(dir, agent.uid, agent.gid);
  const state = path.join(dir, 'state');
  const bin = path.join(prefix, 'bin', 'latchkey-agent');
  const env = { PATH: `${path.dirname(process.execPath)}:${SYSTEM_PATH}` };
  const { token, ownerKey } = await enrolment(owner, 'keyserver');
  const [setpriv, ...privs] = asAgentUser(agent);
  await sh(setpriv!, [...privs, bin, 'init', '--state', state, '--endpoint', endpoint(), '--owner-key', ownerKey], { env, cwd: '/' });
  const enrolled = await sh(setpriv!, [...privs, bin, 'enrol', '--state', state, '--name', name], { env: { ...env, LATCHKEY_ENROLMENT_TOKEN: token }, cwd: '/' });
  expectQuiet(enrolled.stderr);
  await owner.latchkey(['agents', 'confirm', name, '--fingerprint', fingerprintIn(enrolled.stdout)]);
  return spawnLogged(setpriv!, [...privs, bin, 'run', '--state', state], env);
};

/**
 * The deb target's enrolment exactly as its operator does it: the commands `latchkey enrolments
 * create` printed, pasted as root into bash, the token typed at their prompt (here: on stdin).
 */
const enrolDebTarget = async (owner: Person, name: string, env: string) => {
  const { token, commands } = await owner.latchkey<{ token: string; commands: string[] }>(['enrolments', 'create', '--role', 'target', '--env', env, '--name', name]);
  expect(commands.join('\n')).not.toContain(token);
  const pasted = await sh('bash', ['-e', '-c', commands.join('\n')], { env: { PATH: SYSTEM_PATH }, cwd: '/', input: `${token}\n` });
  expectQuiet(pasted.stderr);
  await owner.latchkey(['agents', 'confirm', name, '--fingerprint', fingerprintIn(pasted.stdout)]);
};

/** The [Service] settings of an installed unit file. */
const serviceOf = (unit: string) => {
  const section = unit.split(/^\[/m).find((s) => s.startsWith('Service]'))!;
  return Object.fromEntries(section.split('\n').flatMap((line) => (/^\w+=/.test(line) ? [[line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]] : [])));
};

/**
 * The deb's agent started the way systemd would start its unit (no systemd here): the unit's
 * User and Group, its capabilities as the ambient, inheritable and bounding sets, no_new_privs,
 * and its ExecStart, with the environment a service gets.
 */
const startAsUnit = async () => {
  const service = serviceOf(await readFile(DEB_PATHS.unit, 'utf8'));
  const caps = (list: string) => list.split(/\s+/).map((cap) => `+${cap.replace(/^CAP_/, '').toLowerCase()}`).join(',');
  const [command, ...args] = service.ExecStart!.split(/\s+/);
  const setpriv = [
    `--reuid=${service.User}`,
    `--regid=${service.Group}`,
    '--init-groups',
    `--inh-caps=${caps(service.AmbientCapabilities!)}`,
    `--ambient-caps=${caps(service.AmbientCapabilities!)}`,
    `--bounding-set=-all,${caps(service.CapabilityBoundingSet!)}`,
    ...(service.NoNewPrivileges === 'yes' ? ['--no-new-privs'] : []),
    '--',
  ];
  return { service, ...spawnLogged('setpriv', [...setpriv, command!, ...args], { PATH: SYSTEM_PATH, LANG: 'C.UTF-8' }) };
};

/** What `dpkg -L` lists that is not a directory (nor a link to one, as /lib is on merged-/usr systems): the package's own files and links. */
const packageFiles = async () => {
  const listed = (await sh('dpkg', ['-L', 'latchkey-agent'])).stdout.trim().split('\n');
  const files = [];
  for (const file of listed) if (!(await stat(file)).isDirectory()) files.push(file);
  return files;
};

const userExists = (name: string) => sh('getent', ['passwd', name]).then(() => true, () => false);

const purge = async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(children.map((child) => (child.exitCode === null && child.signalCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined)));
  if (debInstalled) await sh('dpkg', ['--purge', 'latchkey-agent']);
  debInstalled = false;
};

beforeAll(async () => {
  unixUsers(); // fails at once, saying why, where the run is not root
  work = await mkdtemp(path.join(tmpdir(), 'latchkey-install-it-'));
  // Agents' users pass through it to their own directories.
  await chmod(work, 0o755);
  built = await buildPackages({ outDir: path.join(work, 'dist') });
  prefix = path.join(work, 'prefix');
  await mkdir(prefix);
  // An empty prefix and cache, from outside the checkout, offline: the tarballs need nothing else.
  const npmEnv = { PATH: `${path.dirname(process.execPath)}:${SYSTEM_PATH}`, HOME: work, npm_config_cache: path.join(work, 'npm-cache'), npm_config_update_notifier: 'false' };
  for (const tarball of Object.values(built.tarballs)) {
    await sh('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball], { env: npmEnv });
  }
  if (existsSync('/var/lib/latchkey')) throw new Error('/var/lib/latchkey exists on this machine: this test installs and purges the latchkey-agent package, which owns it');
  debInstalled = true;
  await sh('dpkg', ['-i', built.deb], { env: { PATH: SYSTEM_PATH } });
}, 120_000);

afterAll(async () => {
  await purge().catch((error: unknown) => console.error(error));
  await rm(work, { recursive: true, force: true });
}, 60_000);

describe('the packages of npm run package, installed (issue 21)', () => {
  it('what they install: two commands in the prefix, linked to one bundled entry file each (its chunks beside it); the deb’s users and directories', async () => {
    for (const name of ['latchkey', 'latchkey-agent']) {
      const { stdout, stderr } = await sh(path.join(prefix, 'bin', name), ['--version'], { env: { PATH: `${path.dirname(process.execPath)}:${SYSTEM_PATH}` } });
      expect({ stdout, stderr }).toEqual({ stdout: `${built.version}\n`, stderr: '' });
      expect((await sh('ls', [path.join(prefix, 'lib', 'node_modules', name)])).stdout.trim().split('\n').sort()).toEqual(['THIRD-PARTY-NOTICES.txt', 'chunks', `${name}.mjs`, 'package.json']);
    }
    expect((await sh(DEB_PATHS.command, ['--version'])).stdout).toBe(`${built.version}\n`);
    const owner = async (file: string) => (await sh('stat', ['-c', '%U:%G %a', file])).stdout.trim();
    expect(await owner(DEB_PATHS.state)).toBe('latchkey:latchkey 700');
    expect(await owner(DEB_PATHS.releases)).toBe('latchkey-release:latchkey-release 755');
    for (const user of Object.values(DEB_USERS)) expect((await sh('getent', ['passwd', user])).stdout).toMatch(/:\/usr\/sbin\/nologin\n$/);
  });

  it('an owner, an approver, two key servers from the tarball and a target from the deb enrolled by the pasted commands; a CI job (variables only) pushes and deploys a secure release, approved with a signed approval; purged, nothing of the deb is left', { timeout: 180_000 }, async () => {
    // Prepare: the owner signs up; an approver logs in on their own machine, pinning the owner key, and the owner vouches for their signing key.
    const ada = await person('ada');
    const bob = await person('bob');
    await ada.latchkey(['signup', '--account', 'Packaged', '--name', 'Ada Lovelace', '--email', `ada-${Date.now()}@example.com`]);
    const bobEmail = `bob-${Date.now()}@example.com`;
    const added = await ada.latchkey<{ firstToken: { secret: string } }>(['users', 'add', '--name', 'Bob Approver', '--email', bobEmail, '--role', 'approver']);
    const { ownerKey } = await ada.latchkey<{ ownerKey: { publicKey: string } }>(['keys', 'show']);
    await bob.latchkey(['login', '--endpoint', endpoint(), '--owner-key', ownerKey.publicKey], `${added.firstToken.secret}\n`);
    const bobKeys = await bob.latchkey<{ signingKey: { publicKey: string } }>(['keys', 'show']);
    await ada.latchkey(['keys', 'vouch', bobEmail, '--key', bobKeys.signingKey.publicKey]);
    await ada.latchkey(['groups', 'create', 'prod-approvers']);
    await ada.latchkey(['groups', 'add-member', 'prod-approvers', bobEmail]);
    // Where the release's script installs: a place of the deb's release user.
    const installDir = path.join(work, 'installed');
    await mkdir(installDir, { mode: 0o755 });
    const release = (await sh('id', ['-u', DEB_USERS.release])).stdout.trim();
    await chown(installDir, Number(release), Number((await sh('id', ['-g', DEB_USERS.release])).stdout.trim()));
    const destination = path.join(installDir, 'secret.cred');
    await ada.latchkey(['envs', 'create', 'prod', '--approval', '--approvers', 'prod-approvers', '--required', '1', '--var', 'SECRET_FILE=secret.cred.prod', '--var', `DESTINATION_FILE=${destination}`]);
    // Two key servers (a secure application needs them online, holding the master key), and the deb's target.
    const keyServers = [await startTarballKeyServer(ada, 'k1'), await startTarballKeyServer(ada, 'k2')];
    await enrolDebTarget(ada, 'prod-server', 'prod');
    const target = await startAsUnit();
    expect(target.service).toMatchObject({ User: DEB_USERS.agent, ExecStart: `${DEB_PATHS.command} run --state ${DEB_PATHS.state}` });
    await waitFor(
      'two key servers online holding the master key, and the target online',
      async () => {
        const agents = await ada.latchkey<{ name?: string; role: string; online: boolean; masterVersions: number[] }[]>(['agents', 'list']);
        const ready = agents.filter((a) => a.role === 'keyserver' && a.online && a.masterVersions.length > 0).length >= 2 && agents.some((a) => a.name === 'prod-server' && a.online);
        return ready || undefined;
      },
      60_000,
      500,
    );
    await ada.latchkey(['apps', 'create', 'web']);
    expect(await ada.latchkey<{ secure: boolean }>(['apps', 'secure', 'web'])).toMatchObject({ secure: true });
    const source = path.join(work, 'release');
    await writeDemoRelease(source);
    // The CI deployer: added by the owner, logged in once on a trusted machine (which makes its
    // signing key), vouched for by the owner; its token and signing key go to the CI's secret store.
    const ciEmail = `ci-${Date.now()}@example.com`;
    const ciAdded = await ada.latchkey<{ firstToken: { secret: string } }>(['users', 'add', '--name', 'CI', '--email', ciEmail, '--role', 'deployer']);
    const trusted = await person('ci-setup');
    await trusted.latchkey(['login', '--endpoint', endpoint(), '--owner-key', ownerKey.publicKey], `${ciAdded.firstToken.secret}\n`);
    const ciKeys = await trusted.latchkey<{ signingKey: { publicKey: string } }>(['keys', 'show']);
    await ada.latchkey(['keys', 'vouch', ciEmail, '--key', ciKeys.signingKey.publicKey]);
    const ciToken = await trusted.latchkey<{ secret: string }>(['tokens', 'create', '--label', 'ci', '--days', '1']);
    const keyFile = (await readdir(trusted.home)).find((file) => file.startsWith('signing-key.'))!;
    const { privateKey } = JSON.parse(await readFile(path.join(trusted.home, keyFile), 'utf8')) as { privateKey: string };
    const ci = ciJob({ LATCHKEY_TOKEN: ciToken.secret, LATCHKEY_SIGNING_KEY: privateKey, LATCHKEY_OWNER_KEY: ownerKey.publicKey });
    expect(await ci(['push', 'web', source, '--version', '1.0.0'])).toMatchObject({ encrypted: true });

    // Act: the CI job deploys; it waits for Bob, who approves with his signing key.
    const deployment = await ci<{ deploymentId: string; state: string }>(['deploy', 'web', '1.0.0', 'prod']);
    expect(deployment.state).toBe('PendingApproval');
    await bob.latchkey(['approve', deployment.deploymentId, '--deploy']);
    const final = await waitFor(
      'the deployment to end',
      async () => {
        const now = await ada.latchkey<{ state: string; outcome?: { reason?: string } }>(['status', deployment.deploymentId]);
        return ['Succeeded', 'Failed', 'Declined', 'Canceled', 'Expired'].includes(now.state) ? now : undefined;
      },
      90_000,
      500,
    );

    // Assess: installed by the deb's agent, as its release user; every agent log is JSON from its first line.
    expect(final.state, final.outcome?.reason).toBe('Succeeded');
    expect(await readFile(destination, 'utf8')).toMatch(/^demo prod credential/);
    expect((await sh('stat', ['-c', '%U', destination])).stdout.trim()).toBe(DEB_USERS.release);
    for (const agent of [...keyServers, target]) {
      expect(agent.lines.length).toBeGreaterThan(0);
      expect(agent.lines.filter((line) => !line.startsWith('{'))).toEqual([]);
    }

    // Act: purge the deb (the target stopped first, as prerm does under systemd).
    const files = await packageFiles();
    expect(files).toEqual(expect.arrayContaining([DEB_PATHS.bundle, DEB_PATHS.command, DEB_PATHS.unit, DEB_PATHS.copyright]));
    await purge();

    // Assess: its files, users and directories are gone, and dpkg knows it no more.
    for (const file of files) expect(existsSync(file), file).toBe(false);
    expect(existsSync(path.dirname(DEB_PATHS.bundle))).toBe(false);
    for (const dir of [DEB_PATHS.state, DEB_PATHS.releases]) expect(existsSync(dir), dir).toBe(false);
    for (const user of Object.values(DEB_USERS)) expect(await userExists(user), user).toBe(false);
    await expect(sh('dpkg', ['-s', 'latchkey-agent'])).rejects.toThrow(/not installed/);
  });
});
