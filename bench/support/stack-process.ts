import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Endpoints } from '../../local/stack.ts';

const root = path.resolve(import.meta.dirname, '../..');

type LogLine = { level?: string; message?: string; function_name?: string; error?: { name?: string; message?: string } };

/** Error lines grouped by where and what (Powertools JSON, or plain text), with how often each came. */
export const summariseLog = (lines: readonly string[]): { what: string; count: number }[] => {
  const counts = new Map<string, number>();
  for (const line of lines.map((l) => l.trim()).filter(Boolean)) {
    let what = line.slice(0, 200);
    try {
      const entry = JSON.parse(line) as LogLine;
      if (entry.level && entry.level !== 'ERROR') continue;
      what = `${entry.function_name ?? '?'}: ${entry.message ?? ''}${entry.error ? ` (${entry.error.name}: ${entry.error.message})` : ''}`;
    } catch {
      // not JSON: counted as it is
    }
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return [...counts.entries()].map(([what, count]) => ({ what, count })).sort((a, b) => b.count - a.count);
};

/**
 * The local stack in a process of its own, as `npm start -- --port 0 --json` runs it (on free
 * loopback ports), so the load generator does not share its event loop with the server.
 */
export const startStackProcess = async (env: Record<string, string> = {}) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts', '--port', '0', '--json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR', ...env },
  });
  const stderr: string[] = [];
  const logged: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const { endpoints, env: stackEnv } = await new Promise<{ endpoints: Endpoints; env: Record<string, string> }>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`the local stack did not start in 60 s:\n${stderr.join('')}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`the local stack exited with ${code}:\n${stderr.join('')}`)));
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(deadline);
      resolve(JSON.parse(line) as { endpoints: Endpoints; env: Record<string, string> });
      // After the endpoints come the functions' log lines (errors only): kept for the report.
      lines.on('line', (logLine) => logged.push(logLine));
    });
  });
  return {
    endpoints,
    /** The resource names and ARNs the stack made (e.g. DEPLOYMENT_STATE_MACHINE_ARN). */
    env: stackEnv,
    pid: child.pid!,
    /** The errors the stack logged (functions' JSON log lines, background errors), grouped and counted. */
    errors: () => summariseLog([...logged, ...stderr.join('').split('\n')]),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
};
