import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { TestProject } from 'vitest/node';
import type { Endpoints } from '../../local/stack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    endpoints: Endpoints;
    stackEnv: Record<string, string>;
  }
}

const root = path.resolve(import.meta.dirname, '../..');

/** Starts the local stack as `npm start` would, on free ports, once for all integration tests. */
export default async function setup(project: TestProject) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts', '--port', '0', '--json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'ERROR' },
  });
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
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

  return async () => {
    stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
}
