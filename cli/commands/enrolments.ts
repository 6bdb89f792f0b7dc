import type { Command } from 'commander';
import type { BodyOf } from '../api-client.ts';
import { collect, examples, integer } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { formatTime } from '../output.ts';
import { idsOf, kinds } from '../resolve.ts';

export const registerEnrolments = (program: Command, ctx: Context) => {
  const enrolments = program.command('enrolments').description('Single-use tokens that let an agent (key server or target) join the account');

  examples(
    enrolments
      .command('create')
      .description('Create an enrolment token for a new agent; the token is printed this once')
      .requiredOption('--role <role>', 'keyserver or target')
      .option('--env <env>', 'environment a target serves, name or id (repeatable; a target needs one)', collect)
      .option('--hours <h>', 'hours until the token expires (1-168, default 24)', integer(1, 24 * 7))
      .action(async (options: { role: string; env?: string[]; hours?: number }, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const environments = options.env ? await idsOf(client, kinds.environment, options.env) : [];
        const body = {
          role: options.role as BodyOf<'POST /enrolments'>['role'],
          environments,
          ...(options.hours ? { expiresInHours: options.hours } : {}),
        };
        const created = await client.call('POST /enrolments', { body });
        out.result(created, () =>
          [
            `Created a ${created.role} enrolment ${created.enrolmentId}, valid once until ${formatTime(created.expiresAt)}.`,
            'Give this token to the agent now; it is shown only this once:',
            '',
            `  ${created.token}`,
            '',
          ].join('\n'),
        );
      }),
    ['latchkey enrolments create --role keyserver', 'latchkey enrolments create --role target --env staging --env production --hours 4'],
  );
};
