import type { Command } from 'commander';
import type { ApiClient, ItemOf } from '../api-client.ts';
import { examples, limitFrom, listOptions, moreNote, type ListOptions } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { RefusedError, UsageError } from '../errors.ts';
import { formatTime, type Column } from '../output.ts';
import { idOf, kinds, looksLikeId } from '../resolve.ts';

export type ReleaseView = ItemOf<'GET /apps/{id}/releases'>;

/** Releases pile up with every build, so `list` shows the newest ones unless asked for --all. */
export const RELEASES_DEFAULT_LIMIT = 20;

const bytes = (size: number) => {
  if (size < 1024) return `${size} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
};

export const releaseColumns: Column<ReleaseView>[] = [
  { header: 'id', value: (r) => r.releaseId },
  { header: 'version', value: (r) => r.version },
  { header: 'state', value: (r) => r.state },
  { header: 'encrypted', value: (r) => r.encrypted },
  { header: 'size', value: (r) => bytes(r.size) },
  { header: 'created', value: (r) => formatTime(r.createdAt) },
  { header: 'completed', value: (r) => formatTime(r.completedAt) },
];

/**
 * The release a person means by `ref`, from the application's releases: an id exactly, else a
 * version (exact: `v1.0` and `V1.0` are different tags). A version may be pushed more than once;
 * only a ready (uploaded and completed) release can be deployed, so those are preferred. Pure.
 */
export const pickRelease = (releases: readonly ReleaseView[], ref: string, appName: string): ReleaseView => {
  const byId = releases.find((release) => release.releaseId === ref);
  if (byId) return byId;
  const matches = releases.filter((release) => release.version === ref);
  const listHint = `List them with \`latchkey releases list ${appName}\`.`;
  if (!matches.length) throw new RefusedError(`${appName} has no release ${JSON.stringify(ref)}`, { hint: listHint });
  const ready = matches.filter((release) => release.state === 'ready');
  if (ready.length === 1) return ready[0]!;
  if (ready.length > 1) {
    throw new UsageError(`${appName} has ${ready.length} ready releases with version ${JSON.stringify(ref)}: use an id (${ready.map((r) => r.releaseId).join(', ')})`);
  }
  // Not ready: still uploading (never completed), or an encrypted one whose key is still being sealed.
  const sealing = matches.some((release) => release.state === 'sealing');
  throw new RefusedError(
    sealing
      ? `Release ${ref} of ${appName} is not ready yet: a key server is still sealing its key`
      : `Release ${ref} of ${appName} is not ready: its upload was never completed`,
    { hint: sealing ? `Try again in a moment. ${listHint}` : `Push it again, or pick another release. ${listHint}` },
  );
};

/** A release id is passed through (the API answers 404 for a wrong one); a version is looked up. */
export const releaseIdOf = async (client: ApiClient, appId: string, appRef: string, ref: string): Promise<string> => {
  if (looksLikeId('rel', ref)) return ref;
  const { items } = await client.list('GET /apps/{id}/releases', { params: { id: appId } });
  return pickRelease(items, ref, appRef).releaseId;
};

export const registerReleases = (program: Command, ctx: Context) => {
  const releases = program.command('releases').description('Releases: the uploaded builds of an application that can be deployed');

  examples(
    listOptions(
      releases
        .command('list')
        .description('List the releases of an application, newest first')
        .argument('<app>', 'application name or id'),
      RELEASES_DEFAULT_LIMIT,
    ).action(async (appRef: string, options: ListOptions, command: Command) => {
      const out = ctx.output(command);
      const client = await ctx.client();
      const appId = await idOf(client, kinds.app, appRef);
      const { items, more } = await client.list('GET /apps/{id}/releases', { params: { id: appId }, limit: limitFrom(options, RELEASES_DEFAULT_LIMIT) });
      out.list(items, releaseColumns, { empty: `No releases of ${appRef} yet.`, more: moreNote(more, items.length) });
    }),
    ['latchkey releases list web-api', 'latchkey releases list web-api --all --json | jq -r \'.[] | select(.state == "ready") | .version\''],
  );
};
