import type { Command } from 'commander';
import type { ItemOf } from '../api-client.ts';
import { examples, limitFrom, listOptions, moreNote, type ListOptions } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { signApplication, signedWhereTheKeyIs } from '../owner-statements.ts';
import { formatTime, type Column } from '../output.ts';
import { find, idOf, kinds } from '../resolve.ts';

export const appColumns: Column<ItemOf<'GET /apps'>>[] = [
  { header: 'id', value: (a) => a.appId },
  { header: 'name', value: (a) => a.name },
  { header: 'secure', value: (a) => a.secure },
  { header: 'created', value: (a) => formatTime(a.createdAt) },
];

export const registerApps = (program: Command, ctx: Context) => {
  const apps = program.command('apps').description('Applications: what gets released and deployed');

  examples(
    apps
      .command('create')
      .description('Create an application')
      .argument('<name>', 'lowercase letters, digits and dashes, e.g. web-api')
      .action(async (name: string, _options: unknown, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const app = await client.call('POST /apps', { body: { name } });
        const me = await client.call('GET /me');
        await signedWhereTheKeyIs(ctx, me, out, `application ${app.name}`, `latchkey apps sign ${app.name}`, () => signApplication(ctx, client, me, out, app));
        out.result(app, () => `Created application ${app.name} (${app.appId}).`);
      }),
    ['latchkey apps create web-api'],
  );

  examples(
    listOptions(apps.command('list').description('List applications')).action(async (options: ListOptions, command: Command) => {
      const out = ctx.output(command);
      const { items, more } = await (await ctx.client()).list('GET /apps', { limit: limitFrom(options) });
      out.list(items, appColumns, { empty: 'No applications yet.', more: moreNote(more, items.length) });
    }),
    ['latchkey apps list'],
  );

  examples(
    apps
      .command('secure')
      .description(
        'Make an application secure: its releases stay encrypted until they reach the target servers. ' +
          'Needs at least two key servers enrolled and online; it cannot be undone.',
      )
      .argument('<app>', 'application name or id')
      .action(async (ref: string, _options: unknown, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        // A refusal (409: not enough key servers online) comes back as a problem; its title is the reason.
        const app = await client.call('PATCH /apps/{id}', { params: { id: await idOf(client, kinds.app, ref) }, body: { secure: true } });
        // The owner's word, which the CLI and targets hold to: once secure, never plain again.
        const me = await client.call('GET /me');
        await signedWhereTheKeyIs(ctx, me, out, `application ${app.name}`, `latchkey apps sign ${app.name}`, () => signApplication(ctx, client, me, out, app));
        out.result(app, () => `${app.name} is now secure: new releases are encrypted end to end.`);
      }),
    ['latchkey apps secure web-api'],
  );

  examples(
    apps
      .command('sign')
      .description('Sign, with the owner key, the statement agents check for an application (done by create and secure; this signs it again after a failure)')
      .argument('<app>', 'application name or id')
      .action(async (ref: string, _options: unknown, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const app = await find(client, kinds.app, ref);
        const statement = await signApplication(ctx, client, await client.call('GET /me'), out, app);
        out.result(statement, () => `The owner's statement for ${app.name} is version ${statement.version} (${statement.secure ? 'secure' : 'plain'}).`);
      }),
    ['latchkey apps sign web-api'],
  );
};
