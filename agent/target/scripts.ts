import { spawn } from 'node:child_process';

/** The last `limit` characters written to it: a script's output is reported by its tail. */
export class OutputTail {
  private text = '';
  constructor(private readonly limit: number) {}
  write(chunk: string) {
    this.text = (this.text + chunk).slice(-this.limit);
  }
  toString() {
    return this.text;
  }
}

export type ScriptResult = { ok: true } | { ok: false; why: string };

/**
 * Runs one manifest script with `sh -e` in `cwd`. The environment is built, not inherited: the
 * agent's own environment (its credentials included) never reaches a release's scripts.
 */
export const runScript = (
  name: string,
  script: string,
  options: { cwd: string; env: Record<string, string>; output: OutputTail; timeoutMs: number },
): Promise<ScriptResult> =>
  new Promise((resolve) => {
    options.output.write(`--- ${name}\n`);
    const child = spawn('/bin/sh', ['-e', '-c', script], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => options.output.write(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => options.output.write(chunk));
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, why: `${name} could not start (${error.message})` });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ ok: true });
      else resolve({ ok: false, why: signal ? `${name} was stopped by ${signal}${signal === 'SIGKILL' ? ' (timeout)' : ''}` : `${name} exited with ${code}` });
    });
  });

/** What scripts see besides the manifest's variables: a PATH to run tools, and where they are. */
export const baseScriptEnv = (extra: Record<string, string>): Record<string, string> => ({
  PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
  ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
  LANG: process.env.LANG ?? 'C.UTF-8',
  ...extra,
});
