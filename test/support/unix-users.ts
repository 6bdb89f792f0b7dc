import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import type { UnixUser } from '#local/demo/agent-process.ts';

const run = promisify(execFile);

/** The two users of an integration run: `agent` runs `latchkey-agent`, `release` runs release code. */
export type TestUsers = { agent: UnixUser; release: UnixUser };

const create = async (name: string): Promise<UnixUser> => {
  await run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name]);
  const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
  return { name, uid: Number(uid.stdout), gid: Number(gid.stdout) };
};

/**
 * Creates the users agents run as in this test run, as the README's setup does on a real machine
 * (names unique to the run, so runs side by side on one machine do not meet), and the undo. It
 * takes root, which CI has; otherwise the reason, and every test that starts an agent fails with
 * it (test/support/agents.ts).
 */
export const createTestUsers = async (): Promise<(TestUsers & { remove: () => Promise<void> }) | { missing: string }> => {
  if (userInfo().uid !== 0) {
    return { missing: `tests that start agents create Unix users for them (agents and release code run as users of their own): run the integration tests as root, as CI does; you are ${userInfo().username}` };
  }
  const suffix = randomBytes(4).toString('hex');
  const agent = await create(`lk-agent-${suffix}`);
  const release = await create(`lk-release-${suffix}`).catch(async (error: unknown) => {
    await run('userdel', ['-f', agent.name]);
    throw error;
  });
  // -f: a process of the user that outlived its test (none should) does not keep the user.
  const remove = async () => {
    for (const user of [agent, release]) await run('userdel', ['-f', user.name]).catch(() => {});
  };
  return { agent, release, remove };
};
