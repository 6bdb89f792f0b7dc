import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { agentBin } from './processes.ts';

/**
 * `latchkey-agent` as tests and benchmarks run it: enrolled from a temporary state directory, then
 * `run` as a child whose JSON log lines are parsed as they come. No test framework here, so the
 * integration tests (test/support/agents.ts) and the benchmarks (bench/) share it.
 */

/** `latchkey-agent` run to completion (init, enrol, run --once); an error holding its output if it fails. */
export const agentCli = async (args: string[], env: Record<string, string> = {}) => {
  try {
    return await promisify(execFile)(process.execPath, [agentBin, ...args], { env: { ...process.env, ...env }, timeout: 45_000 });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; code?: number };
    throw new Error(`latchkey-agent ${args[0]} exited with ${e.code}:\n${e.stderr ?? ''}${e.stdout ?? ''}`, { cause: error });
  }
};

/** The agent's side of enrolment, as an operator runs it: init with the owner key, enrol with the token. */
export const initAndEnrol = async (state: string, options: { endpoint: string; ownerKey: string; token: string; name: string }) => {
  await agentCli(['init', '--state', state, '--endpoint', options.endpoint, '--owner-key', options.ownerKey]);
  await agentCli(['enrol', '--state', state, '--name', options.name], { LATCHKEY_ENROLMENT_TOKEN: options.token });
  const { enrolment } = JSON.parse(await readFile(path.join(state, 'state.json'), 'utf8')) as { enrolment: { agentId: string; queueUrl: string } };
  return { name: options.name, state, agentId: enrolment.agentId, queueUrl: enrolment.queueUrl };
};

export type AgentLogLine = Record<string, unknown> & { msg: string; time?: string };

/** `latchkey-agent run` as a long-lived child: every line it writes is kept (`output`) and its JSON log lines parsed (`log`). */
export const spawnAgent = (state: string, options: { logLevel?: 'debug' | 'info' } = {}) => {
  const child = spawn(process.execPath, [agentBin, '--log-level', options.logLevel ?? 'info', 'run', '--state', state], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const log: AgentLogLine[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      output.push(line);
      if (line.startsWith('{')) log.push(JSON.parse(line) as AgentLogLine);
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return { child, output, log, kill, exited };
};
