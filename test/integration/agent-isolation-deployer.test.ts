import { randomBytes } from 'node:crypto';
import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { describe, expect, inject, it } from 'vitest';
import { releaseUserDir } from '../support/agents.ts';
import { waitFor } from '../support/clients.ts';
import { currentOf, deployAndWait, expectSucceeded, filesUnder, journalOf, startKeyServers, startTarget, type Deployment } from '../support/deploy-agents.ts';
import { push, replaceReleaseArchive } from '../support/deploy-release.ts';
import { sourceDir } from '../support/fault-stack.ts';
import { accountSecrets, allItems, secretsFound } from '../support/secrets.ts';
import { cliSession } from './cli/run-cli.ts';

/**
 * Issue 17, "a malicious deployer" (docs/threat-model.md): someone who may push and deploy to an
 * environment without approval ships release code that goes after the agent that installs it.
 * Release code runs as a user of its own (DESIGN §6): each attempt fails, and no key byte leaves.
 */

/** Every way release code could get at its agent: the agent is its parent process, its state named on its command line. */
const ATTACK = `
agent=$PPID
state=$(tr '\\0' '\\n' < /proc/$agent/cmdline | sed -n '/^--state$/{n;p;}')
echo "agent $agent state $state"
attempt() {
  what="$1"; shift
  if out=$("$@" 2>/dev/null); then echo "ATTEMPT $what: ok $(printf %s "$out" | base64 -w0 | head -c 2000)"; else echo "ATTEMPT $what: denied"; fi
}
attempt "list state" ls -la "$state"
attempt "find state" find "$state" -type f
for f in agent.key state.json masters.json journal.jsonl used-grants.json scripts.log; do attempt "read $f" cat "$state/$f"; done
attempt "read agent.key by the release dir" cat "$LATCHKEY_RELEASE_DIR/../../../../agent.key"
attempt "copy state" cp -r "$state" "$LATCHKEY_RELEASE_DIR/stolen"
attempt "archive state" tar -cf - "$state"
attempt "write state" sh -c "echo planted > '$state/planted'"
attempt "append journal" sh -c "echo {} >> '$state/journal.jsonl'"
attempt "read environ" cat /proc/$agent/environ
attempt "read mem" dd if=/proc/$agent/mem bs=4096 count=1 skip=16
attempt "read maps" cat /proc/$agent/maps
attempt "list fds" ls -l /proc/$agent/fd/
attempt "stop agent" kill -STOP $agent
attempt "kill agent" kill -KILL $agent
echo "attack done"
`;
const ATTEMPTS = [
  'list state', 'find state', ...['agent.key', 'state.json', 'masters.json', 'journal.jsonl', 'used-grants.json', 'scripts.log'].map((f) => `read ${f}`),
  'read agent.key by the release dir', 'copy state', 'archive state', 'write state', 'append journal', 'read environ', 'read mem', 'read maps', 'list fds', 'stop agent', 'kill agent',
];

/** The part of an agent's local scripts log about one deployment. */
const scriptsLogOf = async (state: string, deploymentId: string) => {
  const text = await readFile(path.join(state, 'scripts.log'), 'utf8');
  return text.slice(text.indexOf(`deployment ${deploymentId}`));
};

describe('a malicious deployer’s release code, against the agent that installs it', () => {
  it('scripts that try to read, list, copy and write every file of the agent’s state, read /proc/<agent>/environ and mem, and stop or kill the agent all fail, on a target and on a key server that also installs; no key byte appears in any report, log line, DynamoDB item or CLI output', { timeout: 300_000 }, async () => {
    // Prepare: dev reports script output (so whatever release code gets leaves in reports); key
    // servers k1 and k2, k2 also installing for dev; a target of dev; a secure app (master key v1).
    const cli = await cliSession();
    const account = await cli.signup();
    const cliOutput: string[] = [];
    const json = async <T,>(args: string[]) => {
      const result = await cli.run([...args, '--json']);
      cliOutput.push(result.stdout, result.stderr);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as T;
    };
    await json(['envs', 'create', 'dev', '--script-output', 'reported']);
    const [k1, k2] = await startKeyServers(cli, { k2: ['dev'] }, { logLevel: 'debug' });
    const target = await startTarget(cli, 't-dev', ['dev'], { logLevel: 'debug' });
    await json(['apps', 'create', 'vault']);
    await json(['apps', 'secure', 'vault']);
    const release = await push(cli, 'vault', await sourceDir({ 'index.html': '<h1>innocent</h1>\n', 'latchkey.yml': `postInstall: |\n${ATTACK.trim().split('\n').map((l) => `  ${l}`).join('\n')}\n` }), '6.6.6');

    // Act: deploy it to dev; both installers run the attack.
    const started = await json<Deployment>(['deploy', 'vault', '6.6.6', 'dev']);
    // Looked at in-process until it ends (cli.look); then the binary's status, its output kept with the rest.
    await waitFor('the deployment to end', async () => {
      const d = await cli.look<Deployment>(['status', started.deploymentId]);
      return ['Succeeded', 'Failed'].includes(d.state) ? d : undefined;
    }, 90_000);
    const deployed = await json<Deployment>(['status', started.deploymentId]);

    // Assess: it installed (the scripts ran to their end) on both, and every attempt was denied.
    expectSucceeded(deployed);
    const installers = [{ name: 'the target', agent: target }, { name: 'the key server that also installs', agent: k2! }];
    for (const { name, agent } of installers) {
      const log = await scriptsLogOf(agent.state, deployed.deploymentId);
      expect(log, name).toContain('attack done');
      expect(log, name).toMatch(new RegExp(`agent \\d+ state ${agent.state}\\n`));
      for (const attempt of ATTEMPTS) expect(log, `${name}: ${attempt}`).toContain(`ATTEMPT ${attempt}: denied\n`);
      expect(log, name).not.toContain(': ok ');
      expect(await readdir(agent.state), name).not.toContain('planted');
      expect(await currentOf(agent.appDir(release.appId)), name).toMatch(new RegExp(`-${deployed.deploymentId}$`));
    }
    // The agents live on, not stopped: each answers the next deployment.
    for (const agent of [k1!.process, k2!.process, target.process!]) expect(agent.child.exitCode).toBeNull();
    expectSucceeded(await deployAndWait(cli, 'vault', '6.6.6', 'dev'));

    // No key of the account, in any encoding, anywhere the deployer or the backend could look.
    const { secrets } = await accountSecrets(account.accountId, [k1!, k2!, target], cli.configPath);
    expect(secrets.has('master key v1')).toBe(true);
    const releaseTrees = (await Promise.all([k2!, target].map((agent) => filesUnder(agent.releasesDir)))).flat();
    const haystacks = {
      'a report or other CLI output': cliOutput.join('\n'),
      'an agent log': [k1!.process, k2!.process, target.process!].flatMap((agent) => agent.output).join('\n'),
      'the stack log': await readFile(inject('stackLogPath'), 'utf8'),
      'a DynamoDB item': await allItems(),
      'a scripts log': (await Promise.all([k2!, target].map((agent) => readFile(path.join(agent.state, 'scripts.log'), 'utf8')))).join('\n'),
      'the release tree': releaseTrees.map((file) => file.bytes.toString('latin1')).join('\n'),
    };
    expect(cliOutput.join('\n')).toContain('ATTEMPT kill agent: denied'); // the output really was reported
    expect(secretsFound(secrets, haystacks)).toEqual([]);
  });

  it('a script that starts a background child and times out is killed with its whole process group', { timeout: 180_000 }, async () => {
    // Prepare: a target whose scripts may run 3 s; a release whose install starts a child in the background and waits.
    const cli = await cliSession();
    await cli.signup();
    const pids = await releaseUserDir('pids');
    await cli.json(['envs', 'create', 'web', '--var', `PID_DIR=${pids}`]);
    await cli.json(['apps', 'create', 'site']);
    const install = ['sleep 300 &', 'echo $! > "$PID_DIR/child"', 'echo $$ > "$PID_DIR/group"', 'sleep 300'];
    await push(cli, 'site', await sourceDir({ 'latchkey.yml': `env:\n  PID_DIR: unset\ninstall:\n${install.map((l) => `  - ${l}`).join('\n')}\n` }), '1.0.0');
    const target = await startTarget(cli, 'tw', ['web'], { args: ['--script-timeout', '3'] });

    // Act
    const failed = await deployAndWait(cli, 'site', '1.0.0', 'web');

    // Assess: failed naming the script and the timeout; no process of its group is left, the background child included.
    expect(failed.outcome?.reason).toBe(
      `Failed on 1 of 1 targets. tw (${target.agentId}): ScriptFailed: install timed out after 3 s and was killed with its process group; nothing is current; the output is in the agent's local scripts log`,
    );
    const group = Number(await readFile(path.join(pids, 'group'), 'utf8'));
    const child = Number(await readFile(path.join(pids, 'child'), 'utf8'));
    const alive = async () => {
      const found: string[] = [];
      for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        // pid (comm) state ppid pgrp …: comm may hold spaces, so fields are counted after the last ')'.
        const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (state !== 'Z' && (Number(pgrp) === group || Number(pid) === child)) found.push(`${pid} ${stat.slice(0, 60)}`);
      }
      return found;
    };
    await waitFor('the group to be gone', async () => ((await alive()).length === 0 ? true : undefined), 10_000).catch(async () => {
      throw new Error(`processes of the timed-out script's group are alive: ${(await alive()).join('; ')}`);
    });
  });

  it('an archive that writes outside its directory is refused at once, leaves nothing behind and is tried once', { timeout: 180_000 }, async () => {
    // Prepare: a plain app with v1 installed; v2 pushed, then its archive replaced by one with a member
    // climbing out to /tmp among good ones, signed with the deployer's own (vouched) key.
    const cli = await cliSession();
    const { accountId } = await cli.signup();
    await cli.json(['envs', 'create', 'web']);
    await cli.json(['apps', 'create', 'site']);
    const v1 = await push(cli, 'site', await sourceDir({ 'index.html': '<h1>v1</h1>\n', 'latchkey.yml': 'install: echo v1\n' }), '1.0.0');
    const v2 = await push(cli, 'site', await sourceDir({ 'index.html': '<h1>v2</h1>\n', 'latchkey.yml': 'install: echo v2\n' }), '2.0.0');
    const target = await startTarget(cli, 'tw', ['web']);
    const appDir = target.appDir(v1.appId);
    expectSucceeded(await deployAndWait(cli, 'site', '1.0.0', 'web'));
    const live = await currentOf(appDir);
    const escaped = `/tmp/latchkey-escaped-${randomBytes(6).toString('hex')}`;
    const members: [string, string][] = [
      ['latchkey.yml', 'install: echo should never run > ran.txt\n'],
      ...Array.from({ length: 200 }, (_, n): [string, string] => [`many/file-${n}.txt`, randomBytes(2048).toString('hex')]),
      [`../../../../../../../..${escaped}`, 'escaped\n'],
      ...Array.from({ length: 200 }, (_, n): [string, string] => [`more/file-${n}.txt`, randomBytes(2048).toString('hex')]),
    ];
    await replaceReleaseArchive(cli, { accountId, appId: v2.appId, releaseId: v2.releaseId }, tarGz(members));

    // Act
    const refused = await deployAndWait(cli, 'site', '2.0.0', 'web');

    // Assess: failed at once (no retry, no waiting for the target timeout), nothing escaped, nothing left, v1 current.
    expect(refused.state).toBe('Failed');
    expect(refused.outcome?.reason).toBe(
      `Failed on 1 of 1 targets. tw (${target.agentId}): UnpackFailed: the release archive is refused: unpacking it exited with status 2; nothing was installed, current still points to ${live}; the output is in the agent's local scripts log`,
    );
    await expect(access(escaped)).rejects.toThrow();
    expect(await readdir(path.join(appDir, 'releases'))).toEqual([live]);
    expect(await currentOf(appDir)).toBe(live);
    expect(await readdir(path.join(target.state, 'staging'))).toEqual([]);
    const answers = target.process!.log.filter((l) => l.msg === 'request answered' && l.type === 'deploy-release');
    expect(answers.map((l) => l.outcome)).toEqual(['succeeded', 'failed']);
    expect(target.process!.log.filter((l) => l.msg === 'request left for redelivery')).toEqual([]);
    expect((await journalOf(target.state)).filter((e) => e.type === 'deploy-release')).toHaveLength(2);
    expect(await scriptsLogOf(target.state, refused.deploymentId)).toContain("Member name contains '..'");
  });
});

/** A gzipped tar of `members` (path, text), written header by header: paths exactly as given. */
const tarGz = (members: readonly (readonly [string, string])[]) => {
  const blocks: Buffer[] = [];
  for (const [name, text] of members) {
    const body = Buffer.from(text);
    const header = Buffer.alloc(512);
    new Header({ path: name, mode: 0o644, size: body.length, mtime: new Date(0), type: 'File', uid: 0, gid: 0 }).encode(header, 0);
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
};
