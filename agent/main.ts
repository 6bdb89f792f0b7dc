import { readSecret } from '#shared/terminal/read-secret.ts';
import { UsageError } from './errors.ts';
import { runAgent } from './program.ts';

// The AWS SDK warns on stderr about Node versions it will stop supporting, once per client: in
// the agent that is the first line of every log, about nothing the operator can act on there.
// The SQS client is created (and the SDK loaded) only later, by `run`, so this is in time.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// SIGTERM (systemd, docker stop) and SIGINT (Ctrl-C) end the loop after the message in hand:
// a reply is never cut off between the journal and the queue.
const stop = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());

process.exitCode = await runAgent(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  fetch: globalThis.fetch,
  signal: stop.signal,
  readSecret: (prompt) => readSecret(prompt, () => new UsageError('cancelled')),
});
