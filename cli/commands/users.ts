import type { Command } from 'commander';
import type { BodyOf, ItemOf } from '../api-client.ts';
import { examples, limitFrom, listOptions, moreNote, type ListOptions } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { signedWhereTheKeyIs, signPerson } from '../owner-statements.ts';
import { RefusedError } from '../errors.ts';
import { loadOwnerSigningKey } from '../keys.ts';
import { formatTime, type Column } from '../output.ts';
import { find, kinds } from '../resolve.ts';
import { signAndRecord } from '../statements.ts';

type Status = BodyOf<'PUT /users/{id}/status'>['status'];

const verbs: Record<Status, { command: string; done: string; description: string }> = {
  disabled: {
    command: 'disable',
    done: 'Disabled',
    description: 'Disable a person: every token of theirs is revoked at once, their approval links and pending votes stop counting, and agents stop counting their keys (the owner signs their person statement)',
  },
  active: { command: 'enable', done: 'Enabled', description: 'Enable a disabled person again: their old tokens stay revoked, and a first token is printed once for you to hand over' },
  removed: { command: 'remove', done: 'Removed', description: 'Remove a person for good: as disable, and they can never be enabled again' },
};

export const userColumns: Column<ItemOf<'GET /users'>>[] = [
  { header: 'id', value: (u) => u.userId },
  { header: 'name', value: (u) => u.name },
  { header: 'email', value: (u) => u.email },
  { header: 'role', value: (u) => u.role },
  { header: 'status', value: (u) => u.status ?? 'active' },
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
        const me = await client.call('GET /me');
        await signedWhereTheKeyIs(ctx, me, out, `${user.email}'s person statement`, `latchkey keys vouch ${user.email} --key KEY`, () => signPerson(ctx, client, me, out, user, undefined));
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

  for (const [status, verb] of Object.entries(verbs) as [Status, (typeof verbs)[Status]][]) {
    examples(
      users
        .command(verb.command)
        .description(verb.description)
        .argument('<person>', 'email or user id')
        .action(async (ref: string, _options: unknown, command: Command) => {
          // 1. The owner key must be here before anything changes: the statement is half of this.
          // 2. The backend first (their tokens die at once), then the owner's signed person
          //    statement with the new status, which is what agents go by.
          const out = ctx.output(command);
          const client = await ctx.client();
          const me = await client.call('GET /me');
          await loadOwnerSigningKey(ctx, me);
          const user = await find(client, kinds.user, ref);
          if (user.status === 'removed' && status !== 'removed') throw new RefusedError(`${user.email} was removed; a removed person cannot be ${verb.done.toLowerCase()}`);
          const updated = await client.call('PUT /users/{id}/status', { params: { id: user.userId }, body: { status } });
          const { signed, unchanged } = await signAndRecord(ctx, client, me, out, {
            kind: 'person',
            subject: user.userId,
            build: (previous) => ({
              // The owner's earlier word where there is one; the directory's for a first statement.
              userId: user.userId,
              name: previous?.name ?? user.name,
              email: previous?.email ?? user.email,
              role: previous?.role ?? user.role,
              status,
              ...(previous?.signingKey ? { signingKey: previous.signingKey } : {}),
              ...(previous?.passkeys ? { passkeys: previous.passkeys } : {}),
            }),
            describe: (next) => [`person  ${next.name} <${next.email}> (${next.userId})`, `role    ${next.role}`, `status  ${next.status}`],
          });
          out.result({ ...updated, statement: signed }, () =>
            [
              `${verb.done} ${user.name} <${user.email}> (${user.userId}).`,
              ...(status === 'active'
                ? updated.firstToken
                  ? [
                      `Their old tokens stay revoked. A first token, shown this once (valid until ${formatTime(updated.firstToken.expiresAt)}); hand it to them privately:`,
                      '',
                      `  ${updated.firstToken.secret}`,
                      '',
                    ]
                  : []
                : [
                    `Revoked ${updated.revokedTokens.length} token${updated.revokedTokens.length === 1 ? '' : 's'} of theirs; their approval links and their votes on deployments still waiting no longer count.`,
                  ]),
              unchanged
                ? `Their person statement already says ${status} (version ${signed.statement.version}).`
                : `Signed and recorded version ${signed.statement.version} of their person statement (status ${status}): agents go by it.`,
            ].join('\n'),
          );
        }),
      [`latchkey users ${verb.command} grace@example.com`],
    );
  }
};
