import { setTimeout as sleep } from 'node:timers/promises';
import { httpFetch } from './http-fetch.ts';
import { readSecret } from './prompt.ts';
import { run } from './program.ts';

// `latchkey … | head` closes the pipe early; that is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

const code = await run(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  fetch: httpFetch,
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

// The command is done: exit once stdout and stderr have drained into their pipe or file, rather
// than wait on what it no longer needs — reads `status` asked for alongside the deployment and did
// not use, kept-alive connections, after Ctrl-C during `status --watch` a poll in flight (its
// timeout is 30 s). Nothing of the command's own is cut short: `run` answers once it is all done.
process.exitCode = code;
let draining = 2;
const drained = () => {
  draining -= 1;
  if (draining === 0) process.exit(code);
};
process.stdout.write('', drained);
process.stderr.write('', drained);
