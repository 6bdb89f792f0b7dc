import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { createApi, type AgentApi } from './api.ts';
import { enrol } from './commands/enrol.ts';
import { init } from './commands/init.ts';
import { run } from './commands/run.ts';
import { show } from './commands/show.ts';
import { AgentError } from './errors.ts';
import { CLOCK_SKEW_MS } from './target/request-expiry.ts';
import { createLogger, errorFields, LOG_LEVELS, type LogLevel } from './log.ts';
import { version } from '#shared/version.ts';

export interface ProgramDeps {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  fetch: typeof fetch;
  /** Aborted on SIGTERM/SIGINT. */
  signal: AbortSignal;
  /** Reads the enrolment token from piped stdin or a prompt that does not echo (never from argv). */
  readSecret?: (prompt: string) => Promise<string>;
}

/** Per-command help: examples, as a server's operator would type them (as root, or as the agent's user). */
const examples = (command: Command, lines: string[]): Command =>
  command.addHelpText('after', `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`);

/** How the agent's own user runs a command on a server set up as the README and the Debian package do. */
const AS_AGENT = 'setpriv --reuid=latchkey --regid=latchkey --init-groups --inh-caps=+setuid,+setgid --ambient-caps=+setuid,+setgid';

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

/** run --clock-skew (tests only): whole seconds, at most the default allowance. */
const clockSkewSeconds = (value: string) => {
  const n = positiveInt(value);
  if (n * 1000 > CLOCK_SKEW_MS) throw new InvalidArgumentError(`must be at most ${CLOCK_SKEW_MS / 1000}`);
  return n;
};

/** Runs `latchkey-agent` with these arguments and returns the exit code. */
export const runAgent = async (argv: string[], deps: ProgramDeps): Promise<number> => {
  let exitCode = 0;
  const logLevel = () => program.opts<{ logLevel: LogLevel }>().logLevel;
  const logger = () => createLogger(logLevel(), deps.stderr);
  const api = (endpoint: string): AgentApi => createApi(endpoint, deps.fetch);

  const program = new Command('latchkey-agent')
    .description('Latchkey agent: holds keys on your machines; the backend never sees them.')
    .version(version, '-V, --version')
    .addOption(new Option('--log-level <level>', 'log detail (JSON lines on stderr)').choices(LOG_LEVELS).default('info'))
    .exitOverride()
    .configureOutput({ writeOut: deps.stdout, writeErr: deps.stderr })
    .addHelpText(
      'after',
      `
A server joins in three steps: \`latchkey enrolments create\` on the owner's machine prints the
exact commands to paste here (init, then enrol with its single-use token), the owner confirms the
agent by the fingerprint enrol prints, and the service starts (systemctl enable --now latchkey-agent).
Run init and enrol as the agent's user (\`${AS_AGENT}\`), never as root.

Examples:
  $ latchkey-agent init --help
  $ ${AS_AGENT} latchkey-agent show --state /var/lib/latchkey
  $ systemctl enable --now latchkey-agent
`,
    );

  program
    .command('init')
    .description('create the agent keys in a private state directory and pin the owner key')
    .requiredOption('--state <dir>', 'state directory (created 0700)')
    .requiredOption('--endpoint <url>', 'Latchkey API endpoint')
    .requiredOption('--owner-key <key>', 'the account owner public key (base64url, 43 characters)')
    .option('--expect-fingerprint <hex>', 'refuse unless the owner key has this fingerprint')
    .option('--release-user <name>', 'the Unix user release code runs as (never root, never this agent\'s user); needed to install releases')
    .option('--releases <dir>', 'where releases are installed: a directory the release user owns, outside the state directory')
    .action((o: { state: string; endpoint: string; ownerKey: string; expectFingerprint?: string; releaseUser?: string; releases?: string }) =>
      init({ ...o, releasesDir: o.releases }, deps.stdout),
    );

  program
    .command('enrol')
    .alias('enroll')
    .description('register this agent with an enrolment token from the account owner: from LATCHKEY_ENROLMENT_TOKEN, else typed or pasted at the prompt (never on the command line, where ps and shell history see it)')
    .requiredOption('--state <dir>', 'state directory')
    .option('--name <name>', 'a name for this agent')
    .action(async (o: { state: string; name?: string }) => {
      const token = deps.env.LATCHKEY_ENROLMENT_TOKEN?.trim() || (await deps.readSecret?.('Enrolment token (from `latchkey enrolments create`): '))?.trim();
      if (!token) throw new AgentError('an enrolment token is needed: paste it at the prompt, or set LATCHKEY_ENROLMENT_TOKEN', 2);
      return enrol({ state: o.state, token, name: o.name }, { api, log: logger(), out: deps.stdout });
    });

  program
    .command('show')
    .description('print the agent id, public keys and fingerprint (for the owner to confirm it), and the pinned owner key fingerprint')
    .requiredOption('--state <dir>', 'state directory')
    .action((o: { state: string }) => show(o, deps.stdout));

  program
    .command('run')
    .description('answer requests from the agent queue until stopped')
    .requiredOption('--state <dir>', 'state directory')
    .option('--once', 'one heartbeat and one poll, then exit')
    .option('--heartbeat-seconds <n>', 'override the heartbeat interval the backend asks for', positiveInt)
    .option('--script-timeout <seconds>', 'how long each latchkey.yml script may run before it is killed with its process group (default 600)', positiveInt)
    // For tests only, so not in --help: a target refuses a deploy request once its expiry is this
    // far behind its clock (CLOCK_SKEW_MS, 60 s, in agent/target/request-expiry.ts). The
    // integration test of a target restarted past that expiry (fault-target.test.ts) would
    // otherwise sit through the whole minute. It can only be made shorter, i.e. stricter.
    .addOption(new Option('--clock-skew <seconds>').argParser(clockSkewSeconds).hideHelp())
    .action((o: { state: string; once?: boolean; heartbeatSeconds?: number; scriptTimeout?: number; clockSkew?: number }) =>
      run(
        { state: o.state, once: Boolean(o.once), heartbeatSeconds: o.heartbeatSeconds, scriptTimeoutSeconds: o.scriptTimeout, clockSkewSeconds: o.clockSkew },
        { api, log: logger(), signal: deps.signal },
      ),
    );

  const state = '--state /var/lib/latchkey';
  const subcommandExamples: Record<string, string[]> = {
    init: [
      `${AS_AGENT} latchkey-agent init ${state} --endpoint https://api.example.com --owner-key OWNER_KEY --expect-fingerprint FINGERPRINT --release-user latchkey-release --releases /var/lib/latchkey-releases`,
      `setpriv --reuid=latchkey --regid=latchkey --init-groups latchkey-agent init ${state} --endpoint https://api.example.com --owner-key OWNER_KEY --expect-fingerprint FINGERPRINT   # a key server that installs nothing`,
    ],
    enrol: [
      `read -rsp 'Enrolment token: ' LATCHKEY_ENROLMENT_TOKEN && echo && export LATCHKEY_ENROLMENT_TOKEN`,
      `${AS_AGENT} latchkey-agent enrol ${state} --name web-1`,
      `${AS_AGENT} latchkey-agent enrol ${state}   # no variable: asks for the token, without echo`,
    ],
    show: [`setpriv --reuid=latchkey --regid=latchkey --init-groups latchkey-agent show ${state}`],
    run: [
      `systemctl enable --now latchkey-agent   # the Debian package's unit runs: latchkey-agent run ${state}`,
      `${AS_AGENT} latchkey-agent --log-level debug run ${state} --once   # one heartbeat and one poll, then exit`,
    ],
  };
  for (const command of program.commands) examples(command, subcommandExamples[command.name()] ?? []);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" to commander; its own message is already printed.
      exitCode = error.exitCode === 0 ? 0 : 2;
    } else if (error instanceof AgentError) {
      deps.stderr(`latchkey-agent: ${error.message}\n`);
      exitCode = error.exitCode;
    } else {
      // Unexpected: log what is safe to log (class, crypto reason, message), never a stack of values.
      createLogger('error', deps.stderr).error('agent failed', errorFields(error));
      exitCode = 1;
    }
  }
  return exitCode;
};
