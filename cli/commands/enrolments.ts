import type { Command } from 'commander';
import { generateRawKeyPair } from '#shared/crypto/raw-keys.ts';
import { enrolmentStatement, formatEnrolmentToken, signEnrolment, toB64, type EnrolmentStatement } from '#shared/protocol/trust.ts';
import { createEnrolmentInput } from '#shared/protocol/agents.ts';
import { checkInput, type BodyOf } from '../api-client.ts';
import { collect, examples, integer } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { RefusedError } from '../errors.ts';
import { fingerprintOf, loadOwnerSigningKey } from '../keys.ts';
import { formatTime } from '../output.ts';
import { idsOf, kinds } from '../resolve.ts';

const DEFAULT_HOURS = 24;
/** Where the README's server setup keeps the agent and its releases, so the commands work as pasted there. */
const DEFAULT_STATE = '/var/lib/latchkey';
const DEFAULT_RELEASE_USER = 'latchkey-release';
const DEFAULT_RELEASES = '/var/lib/latchkey-releases';

const DEFAULT_AGENT_USER = 'latchkey';

/**
 * The commands to paste as root on the agent machine (bash), once the agent is installed: read
 * the token without echo into LATCHKEY_ENROLMENT_TOKEN, then init and enrol as the agent's own
 * user, then start the service. The token is never a command-line argument, where `ps` and shell
 * history would see it. An agent that installs releases starts release code as its release user,
 * so it runs with CAP_SETUID/CAP_SETGID as the systemd unit gives them (and `init` checks they are
 * there); a key server that installs nothing needs no capability at all.
 */
export const agentCommands = (options: {
  endpoint: string;
  ownerKey: Uint8Array;
  state: string;
  agentUser: string;
  name?: string | undefined;
  /** Who runs release code, and where: for an agent that installs releases. */
  install?: { releaseUser: string; releases: string } | undefined;
}) => {
  const quote = (value: string) => (/^[A-Za-z0-9_./:@=-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);
  const asAgent = [
    'setpriv',
    `--reuid=${quote(options.agentUser)}`,
    `--regid=${quote(options.agentUser)}`,
    '--init-groups',
    ...(options.install ? ['--inh-caps=+setuid,+setgid', '--ambient-caps=+setuid,+setgid'] : []),
  ].join(' ');
  return [
    `read -rsp 'Enrolment token: ' LATCHKEY_ENROLMENT_TOKEN && echo && export LATCHKEY_ENROLMENT_TOKEN`,
    [
      asAgent,
      'latchkey-agent init',
      `--state ${quote(options.state)}`,
      `--endpoint ${quote(options.endpoint)}`,
      `--owner-key ${toB64(options.ownerKey)}`,
      `--expect-fingerprint ${fingerprintOf(options.ownerKey)}`,
      ...(options.install ? [`--release-user ${quote(options.install.releaseUser)}`, `--releases ${quote(options.install.releases)}`] : []),
    ].join(' '),
    [asAgent, 'latchkey-agent enrol', `--state ${quote(options.state)}`, ...(options.name ? [`--name ${quote(options.name)}`] : [])].join(' '),
    'unset LATCHKEY_ENROLMENT_TOKEN',
  ];
};
/** Starts the agent once it is enrolled: the unit the agent's Debian package installs. */
export const START_AGENT_COMMAND = 'systemctl enable --now latchkey-agent';
/** Clock skew between this machine and the API that an expiry may show, either way. */
const EXPIRY_SLACK_MS = 5 * 60 * 1000;

export type AskedEnrolment = {
  accountId: string;
  enrolmentId: string;
  role: EnrolmentStatement['role'];
  environments: readonly string[];
  tokenPublicKey: string;
  expiresInHours: number;
  /** When the request was sent and when the answer came: the expiry must fall in between, plus the hours asked. */
  sentAt: number;
  answeredAt: number;
};

/**
 * What the owner signs must be exactly what the owner asked for: a backend that widened the role,
 * added an environment, stretched the expiry or swapped in a token key of its own would otherwise
 * get a genuine owner signature on it. Answers every difference found (empty when none).
 */
export const statementProblems = (statement: unknown, asked: AskedEnrolment): string[] => {
  const parsed = enrolmentStatement.safeParse(statement);
  if (!parsed.success) return ['it is not a well-formed enrolment statement'];
  const s = parsed.data;
  const problems: string[] = [];
  if (s.accountId !== asked.accountId) problems.push(`it names account ${s.accountId}, not ${asked.accountId}`);
  if (s.enrolmentId !== asked.enrolmentId) problems.push(`it names enrolment ${s.enrolmentId}, not ${asked.enrolmentId}`);
  if (s.role !== asked.role) problems.push(`its role is ${s.role}, not ${asked.role}`);
  const want = [...new Set(asked.environments)].sort();
  const got = [...s.environments].sort();
  if (got.length !== want.length || got.some((id, i) => id !== want[i])) {
    problems.push(`its environments are [${s.environments.join(', ')}], not [${asked.environments.join(', ')}]`);
  }
  if (s.tokenPublicKey !== asked.tokenPublicKey) problems.push('its token key is not the one made here');
  const expiry = Date.parse(s.expiresAt);
  const hours = asked.expiresInHours * 3600 * 1000;
  if (!(expiry >= asked.sentAt + hours - EXPIRY_SLACK_MS && expiry <= asked.answeredAt + hours + EXPIRY_SLACK_MS)) {
    problems.push(`it expires at ${s.expiresAt}, not about ${asked.expiresInHours} h from now`);
  }
  return problems;
};

export const registerEnrolments = (program: Command, ctx: Context) => {
  const enrolments = program.command('enrolments').description('Owner-signed, single-use tokens that let an agent (key server or target) join the account');

  examples(
    enrolments
      .command('create')
      .description(
        'Create an enrolment for a new agent and sign it with the owner key (on this machine); ' +
          'the token is printed this once, with the commands to run on the agent',
      )
      .requiredOption('--role <role>', 'keyserver or target')
      .option('--env <env>', 'environment the agent installs releases in, name or id (repeatable; a target needs one, a key server may name some)', collect)
      .option('--hours <h>', `hours until the token expires (1-168, default ${DEFAULT_HOURS})`, integer(1, 24 * 7))
      .option('--name <name>', 'the agent’s name, for the printed enrol command')
      .option('--state <dir>', `the agent's state directory, for the printed commands (default ${DEFAULT_STATE})`)
      .option('--agent-user <user>', `the Unix user the agent runs as, for the printed commands (default ${DEFAULT_AGENT_USER})`)
      .option('--release-user <user>', `who runs release code on an agent that installs, for the printed commands (default ${DEFAULT_RELEASE_USER})`)
      .option('--releases <dir>', `where that agent installs releases, for the printed commands (default ${DEFAULT_RELEASES})`)
      .action(async (options: { role: string; env?: string[]; hours?: number; name?: string; state?: string; agentUser?: string; releaseUser?: string; releases?: string }, command: Command) => {
        // 1. Check the input before anything else, so a bad role or a target without environments sends nothing.
        // 2. The owner key must be here and be the account's registered one, before the API is asked for anything.
        // 3. A one-time token key is made here; only its public half goes to the API.
        // 4. The statement the API answers must be exactly the one asked for; only then is it signed.
        // 5. The token (enrolment id + token key secret) is printed once, alone on its line, and
        //    the secret dropped; the commands for the agent machine never hold it.
        const out = ctx.output(command);
        const client = await ctx.client();
        const hours = options.hours ?? DEFAULT_HOURS;
        const role = options.role as BodyOf<'POST /enrolments'>['role'];
        const environments = options.env ? await idsOf(client, kinds.environment, options.env) : [];
        const tokenKey = generateRawKeyPair('ed25519');
        try {
          const body = { role, environments, expiresInHours: hours, tokenPublicKey: toB64(tokenKey.publicKey) };
          // The server's own schema, before the owner-key checks: a usage error (exit 2) sends nothing.
          checkInput(createEnrolmentInput, body);
          const me = await client.call('GET /me');
          const owner = await loadOwnerSigningKey(ctx, me);
          const sentAt = Date.now();
          const created = await client.call('POST /enrolments', { body });
          const answeredAt = Date.now();
          const problems = statementProblems(created.statement, {
            accountId: me.accountId,
            enrolmentId: created.enrolmentId,
            role,
            environments,
            tokenPublicKey: body.tokenPublicKey,
            expiresInHours: hours,
            sentAt,
            answeredAt,
          });
          if (problems.length) {
            throw new RefusedError(`The API answered with an enrolment other than the one asked for, so it was not signed: ${problems.join('; ')}`, {
              hint: 'Nothing was signed and no token was printed; the unsigned enrolment cannot be used. Report this: it should never happen.',
            });
          }
          const signed = await client.call('PUT /enrolments/{id}/signature', {
            params: { id: created.enrolmentId },
            body: { signature: signEnrolment(owner.privateKey, created.statement) },
          });
          const token = formatEnrolmentToken(created.enrolmentId, tokenKey.privateKey);
          const installs = environments.length > 0;
          const commands = agentCommands({
            endpoint: client.endpoint,
            ownerKey: owner.publicKey,
            state: options.state ?? DEFAULT_STATE,
            agentUser: options.agentUser ?? DEFAULT_AGENT_USER,
            name: options.name,
            install: installs ? { releaseUser: options.releaseUser ?? DEFAULT_RELEASE_USER, releases: options.releases ?? DEFAULT_RELEASES } : undefined,
          });
          const view = { ...signed, token, ownerKey: toB64(owner.publicKey), commands, start: START_AGENT_COMMAND };
          out.result(view, () =>
            [
              `Created and signed a ${created.role} enrolment ${created.enrolmentId}, valid once until ${formatTime(created.statement.expiresAt)}.`,
              'Its token, shown only this once (paste it at the `Enrolment token:` prompt of the first command below; never on a command line):',
              '',
              `  ${token}`,
              '',
              `On the server, as root in bash, with latchkey-agent installed (README, "Installing the agent")${installs ? ' and its release user set up (the Debian package does)' : ''}:`,
              '',
              ...commands.map((line) => `  ${line}`),
              '',
              '`enrol` prints the agent’s fingerprint: once its operator reads it to you, confirm the agent, which gets no keys until then:',
              '',
              '  latchkey agents confirm AGENT --fingerprint FINGERPRINT',
              '',
              `Then start it on the server: ${START_AGENT_COMMAND}`,
              '',
            ].join('\n'),
          );
        } finally {
          tokenKey.privateKey.fill(0);
        }
      }),
    ['latchkey enrolments create --role keyserver', 'latchkey enrolments create --role keyserver --env prod', 'latchkey enrolments create --role target --env staging --env production --hours 4'],
  );
};
