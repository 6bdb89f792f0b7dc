import type { Command } from 'commander';
import type { ItemOf } from '../api-client.ts';
import { examples, limitFrom, listOptions, moreNote, type ListOptions } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { signedWhereTheKeyIs, signEnvironmentsOfGroup } from '../owner-statements.ts';
import { formatTime, type Column } from '../output.ts';
import { emailsById, idOf, kinds } from '../resolve.ts';

type GroupView = ItemOf<'GET /groups'>;

/** Members are ids in the API; the table shows emails when it knows them. */
export const groupColumns = (emails: ReadonlyMap<string, string>): Column<GroupView>[] => [
  { header: 'id', value: (g) => g.groupId },
  { header: 'name', value: (g) => g.name },
  { header: 'members', value: (g) => g.members.map((id) => emails.get(id) ?? id).join(', ') },
  { header: 'created', value: (g) => formatTime(g.createdAt) },
];

export const registerGroups = (program: Command, ctx: Context) => {
  const groups = program.command('groups').description('Approver groups: environments name the groups whose members may approve');

  examples(
    groups
      .command('create')
      .description('Create an approver group')
      .argument('<name>', 'lowercase letters, digits and dashes, e.g. release-managers')
      .action(async (name: string, _options: unknown, command: Command) => {
        const out = ctx.output(command);
        const group = await (await ctx.client()).call('POST /groups', { body: { name } });
        out.result(group, () => `Created group ${group.name} (${group.groupId}).`);
      }),
    ['latchkey groups create release-managers'],
  );

  examples(
    listOptions(groups.command('list').description('List approver groups and their members')).action(async (options: ListOptions, command: Command) => {
      const out = ctx.output(command);
      const client = await ctx.client();
      const { items, more } = await client.list('GET /groups', { limit: limitFrom(options) });
      // Only the table needs names for member ids; --json stays one call and the API's shape.
      const emails = !out.json && items.some((group) => group.members.length) ? await emailsById(client) : new Map<string, string>();
      out.list(items, groupColumns(emails), { empty: 'No groups yet.', more: moreNote(more, items.length) });
    }),
    ['latchkey groups list'],
  );

  const membership = (verb: 'add' | 'remove') =>
    examples(
      groups
        .command(`${verb}-member`)
        .description(verb === 'add' ? 'Add a person to a group' : 'Remove a person from a group')
        .argument('<group>', 'group name or id')
        .argument('<user>', 'email, name or id of the person')
        .action(async (groupRef: string, userRef: string, _options: unknown, command: Command) => {
          const out = ctx.output(command);
          const client = await ctx.client();
          const params = { id: await idOf(client, kinds.group, groupRef), userId: await idOf(client, kinds.user, userRef) };
          const group = verb === 'add'
            ? await client.call('PUT /groups/{id}/members/{userId}', { params })
            : await client.call('DELETE /groups/{id}/members/{userId}', { params });
          // Environments name their approvers in the owner's statement: those of this group sign again.
          const me = await client.call('GET /me');
          await signedWhereTheKeyIs(ctx, me, out, `the environments ${group.name} approves for`, 'latchkey envs sign ENV', () => signEnvironmentsOfGroup(ctx, client, me, out, group.groupId));
          out.result(group, () => `${verb === 'add' ? 'Added' : 'Removed'} ${userRef} ${verb === 'add' ? 'to' : 'from'} ${group.name}; it has ${group.members.length} member(s).`);
        }),
      [`latchkey groups ${verb}-member release-managers grace@example.com`],
    );
  membership('add');
  membership('remove');
};
