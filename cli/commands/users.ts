import type { Command } from 'commander';
import type { BodyOf, ItemOf } from '../api-client.ts';
import { examples, limitFrom, listOptions, moreNote, type ListOptions } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { formatTime, type Column } from '../output.ts';

export const userColumns: Column<ItemOf<'GET /users'>>[] = [
  { header: 'id', value: (u) => u.userId },
  { header: 'name', value: (u) => u.name },
  { header: 'email', value: (u) => u.email },
  { header: 'role', value: (u) => u.role },
  { header: 'created', value: (u) => formatTime(u.createdAt) },
];

export const registerUsers = (program: Command, ctx: Context) => {
  const users = program.command('users').description('People of the account (the owner adds them)');

  examples(
    users
      .command('add')
      .description('Add a person as a deployer or an approver')
      .requiredOption('--name <name>', 'their name')
      .requiredOption('--email <email>', 'their email address (approval links go there)')
      .requiredOption('--role <role>', 'deployer or approver')
      .action(async (options: { name: string; email: string; role: string }, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        // The role is checked by the body schema (deployer|approver), before anything is sent.
        const user = await client.call('POST /users', { body: { name: options.name, email: options.email, role: options.role as BodyOf<'POST /users'>['role'] } });
        out.result(user, () =>
          [
            `Added ${user.name} <${user.email}> as ${user.role} (${user.userId}).`,
            `Their first API token, shown this once (valid until ${formatTime(user.firstToken.expiresAt)}); hand it to them privately:`,
            '',
            `  ${user.firstToken.secret}`,
            '',
            'They log in with: latchkey login --endpoint URL   (and paste the token at the prompt)',
          ].join('\n'),
        );
      }),
    ['latchkey users add --name "Grace Hopper" --email grace@example.com --role approver'],
  );

  examples(
    listOptions(users.command('list').description('List the people of the account')).action(async (options: ListOptions, command: Command) => {
      const out = ctx.output(command);
      const client = await ctx.client();
      const limit = limitFrom(options);
      const { items, more } = await client.list('GET /users', { limit });
      out.list(items, userColumns, { empty: 'No people yet.', more: moreNote(more, items.length) });
    }),
    ['latchkey users list', 'latchkey users list --json | jq -r ".[].email"'],
  );
};
