import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { initAndEnrol, localReleaseSetup, spawnAgent } from '#local/demo/agent-process.ts';
import { cliBin, run } from '#local/demo/processes.ts';
import type { Endpoints } from '#local/stack.ts';
import { poll } from './workflow.ts';

export type Agent = ReturnType<typeof spawnAgent> & { name: string; agentId: string };
export type SecureSetup = Awaited<ReturnType<typeof secureDeploymentSetup>>;

/** `size` random (incompressible) bytes in `file`, written in chunks so 1 GB needs no 1 GB buffer. */
const randomFile = async (file: string, size: number) => {
  const CHUNK = 4 << 20;
  async function* chunks() {
    for (let left = size; left > 0; left -= CHUNK) yield randomBytes(Math.min(CHUNK, left));
  }
  await pipeline(Readable.from(chunks()), createWriteStream(file, { mode: 0o600 }));
};

/**
 * What a secure deployment needs, made the way people make it (local/demo/run-demo.ts): an owner
 * signed up with the CLI (the owner key on this machine), two key servers and one target as real
 * `latchkey-agent run` processes logging at debug (their log lines carry the timings), a secure
 * application, an environment `prod` served by the target (when `approval`, with approvers in a
 * group `approvers`, one of one unless told how many and how many must approve),
 * and a pushed release of `releaseBytes` random bytes plus a latchkey.yml whose postInstall checks
 * the payload arrived. `stop()` ends the agents and removes every file.
 */
export const secureDeploymentSetup = async (endpoints: Endpoints, options: { releaseBytes: number; approval?: boolean | { approvers: number; required: number }; say?: (line: string) => void }) => {
  const say = options.say ?? (() => {});
  const home = await mkdtemp(path.join(tmpdir(), 'latchkey-bench-'));
  const agents: Agent[] = [];
  const stop = async () => {
    await Promise.all(agents.map((agent) => agent.kill('SIGTERM')));
    await rm(home, { recursive: true, force: true });
  };
  try {
    const person = (who: string) => ({ HOME: path.join(home, who), LATCHKEY_CONFIG: path.join(home, who, 'latchkey.json'), LATCHKEY_ENDPOINT: endpoints.api, LATCHKEY_TOKEN: undefined });
    const owner = person('owner');
    const latchkey = async <T = any>(args: string[], who = owner) => JSON.parse(await run(cliBin, [...args, '--json'], { env: who })) as T;

    const account = await latchkey<{ accountId: string }>(['signup', '--account', 'Bench', '--name', 'Olive Owner', '--email', `owner-${randomBytes(4).toString('hex')}@example.com`]);
    const { token: ownerToken } = JSON.parse(await readFile(owner.LATCHKEY_CONFIG, 'utf8')) as { token: string };
    const approvers: { email: string; token: string }[] = [];
    const approval: string[] = [];
    if (options.approval) {
      const { approvers: count, required } = options.approval === true ? { approvers: 1, required: 1 } : options.approval;
      await latchkey(['groups', 'create', 'approvers']);
      for (let n = 1; n <= count; n += 1) {
        const email = `approver${n}-${account.accountId.slice(4, 12)}@example.com`;
        const added = await latchkey<{ firstToken: { secret: string } }>(['users', 'add', '--name', `Approver ${n}`, '--email', email, '--role', 'approver']);
        await latchkey(['groups', 'add-member', 'approvers', email]);
        approvers.push({ email, token: added.firstToken.secret });
      }
      // Opted out of signed approvals: the approvers here decide through the API with their tokens
      // (POST /deployments/{id}/approve), no signature, as the load and cost runs measure it.
      approval.push('--approval', '--approvers', 'approvers', '--required', String(required), '--unsigned-approvals');
    }
    const environment = await latchkey<{ environmentId: string }>(['envs', 'create', 'prod', ...approval]);

    // The target runs release code as a user of its own, in a tree beside its state (local/demo/agent-process.ts).
    await chmod(home, 0o711);
    const isolation = await localReleaseSetup(path.join(home, 'target.releases'));
    const startAgent = async (name: string, role: 'keyserver' | 'target', envs: string[] = []) => {
      const enrolment = await latchkey<{ token: string; ownerKey: string }>(['enrolments', 'create', '--role', role, ...envs.flatMap((e) => ['--env', e])]);
      const setup = envs.length ? { setup: { install: { releaseUser: isolation.releaseUser, releasesDir: isolation.releasesDir } } } : {};
      const enrolled = await initAndEnrol(path.join(home, name), { endpoint: endpoints.api, ownerKey: enrolment.ownerKey, token: enrolment.token, name, ...setup });
      // The owner confirms it with the fingerprint it printed: until then it gets no keys.
      await latchkey(['agents', 'confirm', enrolled.agentId, '--fingerprint', enrolled.fingerprint]);
      const agent = { ...spawnAgent(enrolled.state, { logLevel: 'debug' }), name, agentId: enrolled.agentId };
      agents.push(agent);
      return agent;
    };
    const keyServers = [await startAgent('k1', 'keyserver'), await startAgent('k2', 'keyserver')];
    const target = await startAgent('target', 'target', ['prod']);
    say(`agents running: ${agents.map((a) => `${a.name} ${a.agentId}`).join(', ')}`);

    const app = await latchkey<{ appId: string }>(['apps', 'create', 'web']);
    await poll(
      'two key servers online holding the master key',
      async () => {
        const listed = await latchkey<{ role: string; online: boolean; masterVersions: number[] }[]>(['agents', 'list']);
        return listed.filter((a) => a.role === 'keyserver' && a.online && a.masterVersions.length > 0).length >= 2 ? true : undefined;
      },
      120_000,
    );
    await latchkey(['apps', 'secure', 'web']);

    /** Pushes a new release of `releaseBytes` random bytes as the owner, the way people push. */
    const pushRelease = async (version: string) => {
      const source = path.join(home, `release-${version}`);
      await mkdir(source, { mode: 0o700 });
      await randomFile(path.join(source, 'payload.bin'), options.releaseBytes);
      await writeFile(path.join(source, 'latchkey.yml'), `postInstall: |\n  test "$(wc -c < payload.bin)" -eq ${options.releaseBytes}\n`);
      try {
        const pushed = await latchkey<{ releaseId: string; encrypted: boolean }>(['push', 'web', source, '--version', version, '--seal-timeout', '120']);
        if (!pushed.encrypted) throw new Error(`release ${pushed.releaseId} was not encrypted`);
        return pushed;
      } finally {
        await rm(source, { recursive: true, force: true });
      }
    };
    const pushStarted = Date.now();
    const release = await pushRelease('1.0.0');
    say(`pushed ${(options.releaseBytes / 2 ** 20).toFixed(0)} MiB secure release ${release.releaseId} in ${((Date.now() - pushStarted) / 1000).toFixed(1)} s`);

    return {
      endpoint: endpoints.api,
      accountId: account.accountId,
      ownerToken,
      /** The first approver, when there are approvers. */
      approver: approvers[0],
      approvers,
      keyServers,
      target,
      /** The body of `POST /deployments` for this release to prod. */
      deployment: { appId: app.appId, releaseId: release.releaseId, environmentId: environment.environmentId },
      environmentId: environment.environmentId,
      appId: app.appId,
      pushRelease,
      /** The owner's environment for the CLI (HOME, config, endpoint). */
      ownerEnv: owner,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
};
