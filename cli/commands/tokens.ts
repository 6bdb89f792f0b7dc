import type { Command } from 'commander';
import type { ItemOf } from '../api-client.ts';
import { examples, integer, limitFrom, listOptions, moreNote, type ListOptions } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { formatTime, type Column } from '../output.ts';
import { emailsById, find, kinds, looksLikeId } from '../resolve.ts';

type TokenView = ItemOf<'GET /tokens'>;

export const tokenStatus = (token: TokenView, now = Date.now()) =>
  token.revokedAt ? 'revoked' : Date.parse(token.expiresAt) <= now ? 'expired' : 'active';

export const tokenColumns = (emails: ReadonlyMap<string, string> = new Map()): Column<TokenView>[] => [
  { header: 'id', value: (t) => t.tokenId },
  { header: 'label', value: (t) => t.label },
  { header: 'user', value: (t) => emails.get(t.userId) ?? t.userId },
  { header: 'created', value: (t) => formatTime(t.createdAt) },
  { header: 'expires', value: (t) => formatTime(t.expiresAt) },
  { header: 'status', value: (t) => tokenStatus(t) },
];

export const registerTokens = (program: Command, ctx: Context) => {
  const tokens = program.command('tokens').description('Personal API tokens (for CI jobs and other machines)');

  examples(
    tokens
      .command('create')
      .description('Create an API token for yourself; its secret is printed this once and never again')
      .requiredOption('--label <label>', 'what it is for, e.g. "github-actions"')
      .option('--days <n>', 'days until it expires (1-365, default 90)', integer(1, 365))
      .action(async (options: { label: string; days?: number }, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const created = await client.call('POST /tokens', { body: { label: options.label, ...(options.days ? { expiresInDays: options.days } : {}) } });
        // The one time the secret is shown: alone on its line, so it is easy to copy and hard to miss.
        out.result(created, () =>
          [
            `Created token ${created.tokenId} "${created.label}", expiring ${formatTime(created.expiresAt)}.`,
            'Its secret is shown only now; store it somewhere safe (e.g. your CI secret store):',
            '',
            `  ${created.secret}`,
            '',
          ].join('\n'),
        );
      }),
    ['latchkey tokens create --label github-actions --days 30', 'latchkey tokens create --label ci --json | jq -r .secret'],
  );

  examples(
    listOptions(tokens.command('list').description('List your tokens (the owner sees everyone\'s); secrets are never shown')).action(
      async (options: ListOptions, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const { items, more } = await client.list('GET /tokens', { limit: limitFrom(options) });
        const emails = out.json ? new Map<string, string>() : await emailsById(client);
        out.list(items, tokenColumns(emails), { empty: 'No tokens.', more: moreNote(more, items.length) });
      },
    ),
    ['latchkey tokens list'],
  );

  examples(
    tokens
      .command('revoke')
      .description('Revoke a token at once')
      .argument('<token>', 'token id (tok_…) or its label')
      .action(async (ref: string, _options: unknown, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const id = looksLikeId('tok', ref) ? ref : (await find(client, kinds.token, ref)).tokenId;
        const me = await client.call('GET /me');
        const revoked = await client.call('DELETE /tokens/{id}', { params: { id } });
        out.result(revoked, () => `Revoked ${revoked.tokenId} "${revoked.label}".`);
        if (revoked.tokenId === me.tokenId) out.note('That was the token this CLI was using: run `latchkey login` with another one.');
      }),
    ['latchkey tokens revoke tok_0123456789abcdef0123456789abcdef', 'latchkey tokens revoke github-actions'],
  );
};
