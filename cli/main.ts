import { setTimeout as sleep } from 'node:timers/promises';
import { ExitCode } from './errors.ts';
import { readSecret } from './prompt.ts';
import { run } from './program.ts';

// `latchkey … | head` closes the pipe early; that is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

// exitCode rather than process.exit(): stdout may still be draining into a pipe.
process.exitCode = await run(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  fetch: globalThis.fetch,
  readSecret: (prompt) => readSecret(prompt),
  isTTY: Boolean(process.stdout.isTTY),
  stderrIsTTY: Boolean(process.stderr.isTTY),
  columns: process.stdout.columns,
  sleep: (ms) => sleep(ms),
  onInterrupt: (handler) => {
    process.on('SIGINT', handler);
    return () => void process.off('SIGINT', handler);
  },
});

// Ctrl-C during `status --watch`: a poll may still be in flight, and it must not hold the process
// for its 30 s timeout once the person has asked to stop. Exit once stdout has drained.
if (process.exitCode === ExitCode.interrupted) process.stdout.write('', () => process.exit(ExitCode.interrupted));
