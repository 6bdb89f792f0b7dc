import type { Command } from 'commander';
import { z } from 'zod';
import { checkHistory, type Head, type HistoryVerdict, type RememberedHead } from '#shared/domain/audit/history.ts';
import { auditEvent } from '#shared/protocol/directory.ts';
import type { ApiClient, ItemOf } from '../api-client.ts';
import { auditHeadPath, readAuditHead, writeAuditHead } from '../audit-head.ts';
import { examples, limitFrom, listOptions, moreNote, type ListOptions } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { formatSeconds } from '../deployment-view.ts';
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

const PAGE = 100;
const auditPage = z.object({ items: z.array(auditEvent), nextCursor: z.string().optional() });

/**
 * Reads the whole log, page by page, and checks it here (shared/domain/audit/history.ts): the
 * API's answers are data, never a verdict. The account id is implied by the token, so the API
 * leaves it out of each event; it is put back to hash the event as it was written.
 */
const checkLog = async (client: ApiClient, accountId: string, remembered: Head | undefined): Promise<HistoryVerdict> => {
  const check = checkHistory(remembered);
  let cursor: string | undefined;
  do {
    const page = auditPage.safeParse(await client.call('GET /audit', { query: { limit: PAGE, cursor } }));
    if (!page.success) throw new RefusedError('The API answered GET /audit with something that is not audit events: the log cannot be checked');
    // A page with nothing on it that promises more would have us read for ever.
    if (page.data.nextCursor && page.data.items.length === 0) throw new RefusedError('The API answered GET /audit with an empty page that promises more: the log cannot be checked');
    if (!check.add(page.data.items.map((event) => ({ ...event, accountId })))) break;
    cursor = page.data.nextCursor;
  } while (cursor);
  return check.verdict();
};

const intactReport = (verdict: HistoryVerdict, remembered: RememberedHead | undefined, savedIn: string | undefined) => {
  const head = verdict.head ? `the head is event ${verdict.head.seq}, hash ${verdict.head.hash}` : 'the log is empty';
  return [
    `The audit log is intact: ${verdict.checked} event(s) checked on this machine, linked from the first; ${head}.`,
    remembered
      ? `It still holds event ${remembered.seq} as this machine saw it on ${formatSeconds(remembered.seenAt)}: nothing before it was rewritten.`
      : 'This machine had not checked this account before: from now on a history rewritten behind this head is caught.',
    ...(savedIn ? [`Remembered the head in ${savedIn}.`] : []),
  ].join('\n');
};

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
      .description(
        'Fetch every event and recompute the hash chain on this machine (the API\'s own verdict is not asked for); ' +
          'check that the log still holds the head this machine saw last time, unchanged, and remember the new head. ' +
          'Exits 1 naming the first broken link, or the rewrite, if an event was changed, removed or reordered — ' +
          'even when the backend recomputed every hash after it',
      )
      .action(async (_options: unknown, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const { accountId } = await client.call('GET /me');
        const file = auditHeadPath(ctx.configPath, accountId);
        const remembered = await readAuditHead(file, accountId);
        const verdict = await checkLog(client, accountId, remembered);
        const result = {
          valid: verdict.status === 'intact',
          rewritten: verdict.status === 'rewritten',
          checked: verdict.checked,
          head: verdict.head ?? null,
          remembered: remembered ?? null,
          ...(verdict.status === 'broken' ? { firstBrokenSeq: verdict.firstBrokenSeq } : {}),
          ...(verdict.status === 'intact' ? {} : { problem: verdict.problem }),
        };
        if (verdict.status === 'intact') {
          const saved = verdict.head ? await writeAuditHead(file, accountId, { ...verdict.head, seenAt: new Date().toISOString() }) : false;
          out.result(result, () => intactReport(verdict, remembered, saved ? file : undefined));
          return;
        }
        // --json still prints the verdict on stdout for scripts; the error line and exit 1 follow.
        if (out.json) out.result(result, () => '');
        const checked = `${verdict.checked} event(s) checked on this machine`;
        if (verdict.status === 'broken') {
          throw new RefusedError(`The audit log is broken at event ${verdict.firstBrokenSeq}: ${verdict.problem} (${checked})`);
        }
        throw new RefusedError(`The audit log was rewritten behind the head this machine saw on ${formatSeconds(remembered!.seenAt)} (event ${remembered!.seq}): ${verdict.problem} (${checked})`, {
          hint: `Nothing was remembered. Only if you know why the history changed (say, the account was restored from a backup), delete ${file} to trust the log as it is now.`,
        });
      }),
    ['latchkey audit verify && echo intact', 'latchkey audit verify --json | jq .head'],
  );
};
