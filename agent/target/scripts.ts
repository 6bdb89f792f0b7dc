import type { ChildProcess } from 'node:child_process';
import { killGroup, spawnAsReleaseUser, type Isolation } from '../isolation/release-user.ts';
import type { ScriptLog } from './script-log.ts';

export type ScriptResult = { ok: true } | { ok: false; why: string };

/**
 * Runs one manifest script with `sh -e`, as the release user, in `cwd`, with exactly `env` (built
 * by script-env.ts, never inherited: the agent's own environment, its credentials included, never
 * reaches release code). What it prints goes to the local script log. It runs as the leader of a
 * process group of its own; at the timeout that whole group is killed, background children
 * included, and the script has failed.
 */
export const runScript = (
  name: string,
  script: string,
  options: { isolation: Isolation; cwd: string; env: Record<string, string>; log: ScriptLog; timeoutMs: number },
): Promise<ScriptResult> =>
  new Promise((resolve) => {
    options.log.write(`--- ${name}\n`);
    let child: ChildProcess;
    try {
      child = spawnAsReleaseUser(options.isolation, '/bin/sh', ['-e', '-c', script], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      // A value spawn refuses (a NUL byte): the script never started.
      return resolve({ ok: false, why: `${name} could not start (${(error as Error).message})` });
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void killGroup(options.isolation, child.pid!);
    }, options.timeoutMs);
    for (const stream of [child.stdout!, child.stderr!]) stream.setEncoding('utf8').on('data', (chunk: string) => options.log.write(chunk));
    // Killed: a process that left the group may still hold the pipes; its output no longer counts.
    child.once('exit', () => {
      if (timedOut) for (const stream of [child.stdout!, child.stderr!]) stream.destroy();
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, why: `${name} could not start (${error.message})` });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const why = timedOut
        ? `${name} timed out after ${Math.round(options.timeoutMs / 1000)} s and was killed with its process group`
        : code === null
          ? `${name} was killed by ${signal}`
          : `${name} exited with status ${code}`;
      options.log.write(`--- ${code === 0 && !timedOut ? `${name} exited with status 0` : why}\n`);
      resolve(code === 0 && !timedOut ? { ok: true } : { ok: false, why });
    });
  });
