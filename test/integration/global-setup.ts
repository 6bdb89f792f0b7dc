import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import type { Endpoints } from '../../local/stack.ts';
import { createTestUsers, type TestUsers } from '../support/unix-users.ts';
import { startOwnStack } from '../support/own-stack.ts';
import { bundleBinary, type BinaryName } from '../../packaging/bundle.ts';
import { version } from '../../shared/version.ts';

const root = path.resolve(import.meta.dirname, '../..');

declare module 'vitest' {
  export interface ProvidedContext {
    endpoints: Endpoints;
    stackEnv: Record<string, string>;
    /** Every line the stack writes, for tests that scan its log (no key bytes in logs). */
    stackLogPath: string;
    /** The Unix users agents and release code run as (test/support/unix-users.ts), or why there are none. */
    unixUsers: TestUsers | { missing: string };
  }
}

/** Starts the local stack as `npm start` would, on free ports, once for all integration tests. */
export default async function setup(project: TestProject) {
  // The CLI and agent processes the tests start are the shipped bundles (local/demo/processes.ts):
  // tsx would compile the sources again for each of the hundreds of them. Readable by the agents' users.
  const bins = await mkdtemp(path.join(tmpdir(), 'latchkey-bins-'));
  await chmod(bins, 0o755);
  await Promise.all((['latchkey', 'latchkey-agent'] as BinaryName[]).map((name) => bundleBinary(root, name, bins, version)));
  process.env.LATCHKEY_BUNDLED_BINS = bins;
  // The stack's own log (Powertools JSON lines) goes to a file: LATCHKEY_STACK_LOG=file keeps it.
  const logDir = process.env.LATCHKEY_STACK_LOG ? undefined : await mkdtemp(path.join(tmpdir(), 'latchkey-stack-log-'));
  const stackLogPath = process.env.LATCHKEY_STACK_LOG ?? path.join(logDir!, 'stack.log');
  await writeFile(stackLogPath, '');
  const stack = await startOwnStack({
    logPath: stackLogPath,
    env: {
      // Debug by default: the log is only written to a file, and the no-secrets test scans it all.
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'DEBUG',
      // Agents in tests heartbeat every second; one missed for a few seconds is offline.
      AGENT_ONLINE_SECONDS: '5',
      AGENT_HEARTBEAT_SECONDS: '1',
    },
  });
  // If the stack dies mid-run, say why: every later failure is only ECONNREFUSED.
  let stopping = false;
  stack.child.once('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`\nThe local stack exited early (${code ?? signal}):\n${stack.stderr()}\n`);
  });
  // Agents run as a user of their own, release code as another (DESIGN §6): made for this run, removed after.
  const users = await createTestUsers();
  project.provide('unixUsers', 'missing' in users ? users : { agent: users.agent, release: users.release });
  project.provide('endpoints', stack.endpoints);
  project.provide('stackEnv', stack.env);
  project.provide('stackLogPath', stackLogPath);

  return async () => {
    stopping = true;
    await stack.stop();
    if ('remove' in users) await users.remove();
    if (logDir) await rm(logDir, { recursive: true, force: true });
    await rm(bins, { recursive: true, force: true });
  };
}
