import { readSecret } from '#shared/terminal/read-secret.ts';
import { version } from '#shared/version.ts';
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

const argv = process.argv.slice(2);
// `latchkey-agent --version` for whoever installed a package; the program (program.ts) has no
// version option of its own yet, so it is answered here, before commander sees the arguments.
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) process.stdout.write(`${version}\n`);
else {
  process.exitCode = await runAgent(argv, {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    fetch: globalThis.fetch,
    signal: stop.signal,
    readSecret: (prompt) => readSecret(prompt, () => new UsageError('cancelled')),
  });
}
