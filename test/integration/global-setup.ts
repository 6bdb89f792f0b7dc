import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { TestProject } from 'vitest/node';
import type { Endpoints } from '../../local/stack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    endpoints: Endpoints;
    stackEnv: Record<string, string>;
    /** Every line the stack writes, for tests that scan its log (no key bytes in logs). */
    stackLogPath: string;
  }
}

const root = path.resolve(import.meta.dirname, '../..');

/** Starts the local stack as `npm start` would, on free ports, once for all integration tests. */
export default async function setup(project: TestProject) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts', '--port', '0', '--json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      // Debug by default: the log is only written to a file, and the no-secrets test scans it all.
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'DEBUG',
      // Agents in tests heartbeat every second; one missed for a few seconds is offline.
      AGENT_ONLINE_SECONDS: '5',
      AGENT_HEARTBEAT_SECONDS: '1',
    },
  });
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  // The stack's own log (Powertools JSON lines) goes to a file: LATCHKEY_STACK_LOG=file keeps it.
  const logDir = process.env.LATCHKEY_STACK_LOG ? undefined : await mkdtemp(path.join(tmpdir(), 'latchkey-stack-log-'));
  const stackLogPath = process.env.LATCHKEY_STACK_LOG ?? path.join(logDir!, 'stack.log');
  const log = createWriteStream(stackLogPath);
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  // If the stack dies mid-run, say why: every later failure is only ECONNREFUSED.
  let stopping = false;
  child.once('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`\nThe local stack exited early (${code ?? signal}):\n${stderr.join('')}\n`);
  });

  const started = await new Promise<{ endpoints: Endpoints; env: Record<string, string> }>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`local stack did not start in 60 s:\n${stderr.join('')}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`local stack exited with ${code}:\n${stderr.join('')}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(deadline);
      resolve(JSON.parse(line));
    });
  });
  project.provide('endpoints', started.endpoints);
  project.provide('stackEnv', started.env);
  project.provide('stackLogPath', stackLogPath);

  return async () => {
    stopping = true;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    if (logDir) await rm(logDir, { recursive: true, force: true });
  };
}
