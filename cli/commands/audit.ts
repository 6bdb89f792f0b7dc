import type { Command } from 'commander';
import type { ItemOf } from '../api-client.ts';
import { examples, limitFrom, listOptions, moreNote, type ListOptions } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { RefusedError } from '../errors.ts';
import { emailsById } from '../resolve.ts';
import type { Column } from '../output.ts';

/** The audit log grows without end, so `list` shows a first page unless asked for --all. */
export const AUDIT_DEFAULT_LIMIT = 100;

export const auditColumns = (emails: ReadonlyMap<string, string> = new Map()): Column<ItemOf<'GET /audit'>>[] => [
  { header: 'seq', value: (e) => e.seq },
  { header: 'at', value: (e) => e.at },
  { header: 'actor', value: (e) => (e.actor ? (emails.get(e.actor.userId) ?? e.actor.userId) : 'system') },
  { header: 'action', value: (e) => e.action },
  { header: 'target', value: (e) => (e.target ? `${e.target.type}:${e.target.id}` : undefined) },
  { header: 'outcome', value: (e) => e.outcome },
  { header: 'reason', value: (e) => e.reason },
];

export const registerAudit = (program: Command, ctx: Context) => {
  const audit = program.command('audit').description('The account\'s append-only, hash-chained audit log');

  examples(
    listOptions(audit.command('list').description('List audit events, oldest first'), AUDIT_DEFAULT_LIMIT).action(
      async (options: ListOptions, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const { items, more } = await client.list('GET /audit', { limit: limitFrom(options, AUDIT_DEFAULT_LIMIT) });
        const emails = out.json || !items.length ? new Map<string, string>() : await emailsById(client);
        out.list(items, auditColumns(emails), { empty: 'No audit events.', more: moreNote(more, items.length) });
      },
    ),
    ['latchkey audit list', 'latchkey audit list --all --json | jq \'.[] | select(.outcome == "refused")\''],
  );

  examples(
    audit
      .command('verify')
      .description('Recompute the hash chain; exits 1 and names the first broken link if an event was changed or removed')
      .action(async (_options: unknown, command: Command) => {
        const out = ctx.output(command);
        const result = await (await ctx.client()).call('GET /audit/verify');
        if (result.valid) {
          out.result(result, () => `The audit log is intact: ${result.checked} event(s) checked.`);
          return;
        }
        const where = result.firstBrokenSeq === undefined ? 'somewhere' : `at event ${result.firstBrokenSeq}`;
        // --json still prints the verdict on stdout for scripts; the error line and exit 1 follow.
        if (out.json) out.result(result, () => '');
        throw new RefusedError(`The audit log is broken ${where}${result.problem ? `: ${result.problem}` : ''} (${result.checked} event(s) checked)`);
      }),
    ['latchkey audit verify && echo intact'],
  );
};
