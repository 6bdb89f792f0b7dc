import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
/**
 * Where `latchkey` and `latchkey-agent` come from: the sources, compiled by tsx at every start
 * (~0.8 s of CPU each), or, where LATCHKEY_BUNDLED_BINS names a directory holding the bundles
 * `npm run package` ships (latchkey.mjs, latchkey-agent.mjs), those: what users install, started
 * in a tenth of the time. The integration tests build them once (test/integration/global-setup.ts).
 */
const bundled = process.env.LATCHKEY_BUNDLED_BINS;
export const cliBin = bundled ? path.join(bundled, 'latchkey.mjs') : path.join(root, 'cli/bin/latchkey.js');
export const agentBin = bundled ? path.join(bundled, 'latchkey-agent.mjs') : path.join(root, 'agent/bin/latchkey-agent.js');

export class StepFailed extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'StepFailed';
  }
}

type RunOptions = { env?: Record<string, string | undefined>; input?: string };

/** Runs a command to its end and answers its output; a non-zero exit is a StepFailed naming the command. */
export const run = (bin: string, args: string[], options: RunOptions = {}) =>
  new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) return resolve(stdout);
      const name = `${path.basename(bin, '.js')} ${args.filter((a) => !a.startsWith('lke_')).join(' ')}`;
      reject(new StepFailed(`\`${name}\` exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}`, 'Run that command by hand to see the whole message.'));
    });
    child.stdin.end(options.input ?? '');
  });

/**
 * Long-running children (the agents): their output goes to a log file each, and they are all
 * stopped together when the demo's stack stops.
 */
export const backgroundProcesses = () => {
  const children = new Set<ChildProcess>();
  return {
    start(bin: string, args: string[], logFile: string, env: Record<string, string> = {}) {
      const log = createWriteStream(logFile, { flags: 'a', mode: 0o600 });
      const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.pipe(log);
      child.stderr!.pipe(log);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    async stopAll() {
      await Promise.all(
        [...children].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
};
export type BackgroundProcesses = ReturnType<typeof backgroundProcesses>;
