import type { Command } from 'commander';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { enrolmentStatement, formatEnrolmentToken, signEnrolment, toB64, type EnrolmentStatement } from '#shared/protocol/trust.ts';
import { createEnrolmentInput } from '#shared/protocol/agents.ts';
import { checkInput, type BodyOf } from '../api-client.ts';
import { collect, examples, integer } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { RefusedError } from '../errors.ts';
import { agentInitHint, loadOwnerSigningKey } from '../keys.ts';
import { formatTime } from '../output.ts';
import { idsOf, kinds } from '../resolve.ts';

const DEFAULT_HOURS = 24;
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
      .action(async (options: { role: string; env?: string[]; hours?: number }, command: Command) => {
        // 1. Check the input before anything else, so a bad role or a target without environments sends nothing.
        // 2. The owner key must be here and be the account's registered one, before the API is asked for anything.
        // 3. A one-time token key is made here; only its public half goes to the API.
        // 4. The statement the API answers must be exactly the one asked for; only then is it signed.
        // 5. The token (enrolment id + token key secret) is printed once and the secret dropped.
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
          const commands = [agentInitHint(owner.publicKey), `latchkey-agent enrol --token ${token}`];
          const view = { ...signed, token, ownerKey: toB64(owner.publicKey), commands };
          out.result(view, () =>
            [
              `Created and signed a ${created.role} enrolment ${created.enrolmentId}, valid once until ${formatTime(created.statement.expiresAt)}.`,
              'Give this token to the agent now; it is shown only this once:',
              '',
              `  ${token}`,
              '',
              'On the agent machine, run:',
              '',
              `  ${commands.join(' && \\\n    ')}`,
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
