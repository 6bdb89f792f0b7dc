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
});
