import { Command, CommanderError } from 'commander';
import { registerAgents } from './commands/agents.ts';
import { registerApps } from './commands/apps.ts';
import { registerAudit } from './commands/audit.ts';
import { registerCompletion } from './commands/completion.ts';
import { registerDeployments } from './commands/deployments.ts';
import { registerEnrolments } from './commands/enrolments.ts';
import { registerEnvironments } from './commands/envs.ts';
import { registerGroups } from './commands/groups.ts';
import { registerKeys } from './commands/keys.ts';
import { registerPush } from './commands/push.ts';
import { registerReleases } from './commands/releases.ts';
import { registerSession } from './commands/session.ts';
import { registerTokens } from './commands/tokens.ts';
import { registerUsers } from './commands/users.ts';
import { version } from '#shared/version.ts';
import { createContext, type Context, type Io } from './context.ts';
import { ApiProblem, CliError, ExitCode, exitCodeHelp, Interrupted } from './errors.ts';

const moreHelp = `
Configuration:
  login and signup save the endpoint and token in $LATCHKEY_CONFIG, or else
  $XDG_CONFIG_HOME/latchkey/config.json (default ~/.config/latchkey/config.json), mode 0600.
  LATCHKEY_ENDPOINT and LATCHKEY_TOKEN override the file (handy in CI: no file needed);
  in CI, LATCHKEY_OWNER_KEY pins the owner public key and LATCHKEY_SIGNING_KEY is the
  deployer's release-signing key (its key file's privateKey), from the CI's secret store.

Output:
  Tables by default; --json prints JSON on stdout (lists as an array) for scripts.
  Notes and errors go to stderr. Token secrets are printed once, when created, and never again.

${exitCodeHelp}

Examples:
  $ latchkey signup --endpoint http://127.0.0.1:4000 --account Acme --name "Ada Lovelace" --email ada@example.com
  $ latchkey users add --name "Grace Hopper" --email grace@example.com --role approver
  $ latchkey groups create release-managers && latchkey groups add-member release-managers grace@example.com
  $ latchkey envs create production --approval --approvers release-managers
  $ latchkey deploy web-api 1.4.2 production
  $ latchkey approve dep_0123456789abcdef0123456789abcdef --deploy
  $ latchkey status dep_0123456789abcdef0123456789abcdef --watch
  $ latchkey audit verify
  $ source <(latchkey completion bash)
`;

export const buildProgram = (ctx: Context): Command => {
  // Settings made before the subcommands are added are inherited by all of them.
  const program = new Command('latchkey')
    .description('Latchkey: secure deployments. Deploy releases and approve them; manage the people, tokens, approver groups, environments, applications and agents of your account.')
    .version(version, '-V, --version')
    .option('--json', 'print results as JSON on stdout (for scripts)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({ writeOut: ctx.io.stdout, writeErr: ctx.io.stderr })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText('after', moreHelp);
  registerSession(program, ctx);
  registerUsers(program, ctx);
  registerTokens(program, ctx);
  registerGroups(program, ctx);
  registerEnvironments(program, ctx);
  registerApps(program, ctx);
  registerPush(program, ctx);
  registerReleases(program, ctx);
  registerDeployments(program, ctx);
  registerEnrolments(program, ctx);
  registerAgents(program, ctx);
  registerKeys(program, ctx);
  registerAudit(program, ctx);
  registerCompletion(program, ctx);
  return program;
};

const report = (io: Io, error: CliError, json: boolean) => {
  if (json) {
    const problem = error instanceof ApiProblem ? error.problem : { title: error.message, ...(error.field ? { field: error.field } : {}) };
    io.stderr(`${JSON.stringify({ error: { ...problem, exitCode: error.exitCode } })}\n`);
    return;
  }
  const lines = [`Error: ${error.message}`];
  if (error.field) lines.push(`  field: ${error.field}`);
  if (error instanceof ApiProblem && error.problem.detail) lines.push(`  ${error.problem.detail}`);
  if (error.hint) lines.push(`  ${error.hint}`);
  io.stderr(`${lines.join('\n')}\n`);
};

/** Runs one command line and answers its exit code; never exits the process itself. */
export const run = async (argv: readonly string[], io: Io): Promise<number> => {
  const program = buildProgram(createContext(io));
  // `push --version V` names the release; the CLI's own --version must not take it (push has its own --json).
  if (argv[0] === 'push') program.enablePositionalOptions();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ExitCode.ok;
  } catch (error) {
    // Commander has already printed its message (or the help) to stderr.
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    if (error instanceof Interrupted) {
      io.stderr(`${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof CliError) {
      report(io, error, argv.includes('--json'));
      return error.exitCode;
    }
    io.stderr(`Error: unexpected failure: ${(error as Error)?.message ?? String(error)}\nThis is a bug in latchkey.\n`);
    if (io.env.LATCHKEY_DEBUG) io.stderr(`${(error as Error)?.stack ?? ''}\n`);
    return ExitCode.refused;
  }
};
