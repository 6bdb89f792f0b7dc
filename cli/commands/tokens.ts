import type { Command } from 'commander';
import type { ItemOf } from '../api-client.ts';
import { examples, integer, limitFrom, listOptions, moreNote, type ListOptions } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { UsageError } from '../errors.ts';
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
        const days = options.days ?? 90;
        const asked = Date.now() + days * 86_400_000;
        const created = await client.call('POST /tokens', { body: { label: options.label, expiresInDays: days } });
        // A token never outlives the one it was made with (a minute's slack for clocks).
        if (Date.parse(created.expiresAt) < asked - 60_000) {
          out.note(`Note: it expires with the token it was made with (${created.parentTokenId ?? 'this CLI’s'}), sooner than the ${days} days asked: a token never outlives the token that made it.`);
        }
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
      .description('Revoke a token at once, with every token made with it; or, for the owner, every token of a person (--all PERSON)')
      .argument('[token]', 'token id (tok_…) or its label')
      .option('--all <person>', 'revoke every token of this person (email or user id); the owner only')
      .action(async (ref: string | undefined, options: { all?: string }, command: Command) => {
        const out = ctx.output(command);
        if ((ref === undefined) === (options.all === undefined)) throw new UsageError('Give a token, or --all PERSON, not both');
        const client = await ctx.client();
        const me = await client.call('GET /me');
        if (options.all !== undefined) {
          const user = await find(client, kinds.user, options.all);
          const result = await client.call('DELETE /users/{id}/tokens', { params: { id: user.userId } });
          out.result(result, () => `Revoked every token of ${user.email}: ${result.revoked.length} token${result.revoked.length === 1 ? '' : 's'}${result.revoked.length ? ` (${result.revoked.join(', ')})` : ''}.`);
          if (result.revoked.includes(me.tokenId)) out.note('That included the token this CLI was using: run `latchkey login` with another one.');
          return;
        }
        const id = looksLikeId('tok', ref!) ? ref! : (await find(client, kinds.token, ref!)).tokenId;
        const revoked = await client.call('DELETE /tokens/{id}', { params: { id } });
        const made = revoked.alsoRevoked;
        const also = made.length ? `, and the ${made.length} token${made.length === 1 ? '' : 's'} made with it (${made.join(', ')})` : '';
        out.result(revoked, () => `Revoked ${revoked.tokenId} "${revoked.label}"${also}.`);
        if (revoked.tokenId === me.tokenId || made.includes(me.tokenId)) out.note('That was the token this CLI was using: run `latchkey login` with another one.');
      }),
    ['latchkey tokens revoke tok_0123456789abcdef0123456789abcdef', 'latchkey tokens revoke github-actions', 'latchkey tokens revoke --all grace@example.com'],
  );
};
