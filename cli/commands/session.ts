import type { Command } from 'commander';
import { isCleartextRemote, normaliseEndpoint, resolveSession, writeConfig } from '../config.ts';
import type { Context } from '../context.ts';
import { UsageError } from '../errors.ts';
import { formatRecord, formatTime, type Output } from '../output.ts';
import { examples } from '../command-kit.ts';
import type { ApiClient } from '../api-client.ts';
import { ensureOwnerKey, ensureOwnerKeyPin, ensureSigningKey, ownerKeyPath, readKeyFile, type Me } from '../keys.ts';
import { signPerson } from '../owner-statements.ts';

const warnCleartext = (out: Output, endpoint: string) => {
  if (isCleartextRemote(endpoint)) out.note(`Warning: ${endpoint} is plain HTTP; your token crosses the network unencrypted. Use https.`);
};

const noteEnvironmentToken = (ctx: Context, out: Output) => {
  if (ctx.io.env.LATCHKEY_TOKEN) out.note('Note: LATCHKEY_TOKEN is set, and commands use it rather than the saved token.');
};

const endpointFrom = async (ctx: Context, given: string | undefined) => {
  const value = given ?? ctx.io.env.LATCHKEY_ENDPOINT ?? (await ctx.loadConfig()).config.endpoint;
  if (!value) throw new UsageError('Give the API endpoint with --endpoint URL', { field: 'endpoint' });
  return normaliseEndpoint(value);
};

/** `login`, `signup`, `whoami`, `logout`: how the CLI comes to hold a token. */
/**
 * The owner's own person statement, with the owner key as their signing key (the owner signs
 * releases, intents and approvals with it), once the owner key is on this machine.
 */
const signOwnSelf = async (ctx: Context, client: ApiClient, ownerKey: { publicKey: string } | undefined, me: Me, out: Output) => {
  if (me.user.role !== 'owner' || !ownerKey || !(await readKeyFile(ownerKeyPath(ctx.configPath, me.accountId)))?.privateKey) return;
  const registered = await client.call('GET /me');
  if (registered.ownerKey?.publicKey !== ownerKey.publicKey) return;
  await signPerson(ctx, client, registered, out, me.user, ownerKey.publicKey);
};

export const registerSession = (program: Command, ctx: Context) => {
  examples(
    program
      .command('login')
      .description('Check an API token with the API and save it, with the endpoint, in the config file (mode 0600)')
      .option('--endpoint <url>', 'API endpoint (default: LATCHKEY_ENDPOINT, then the saved one)')
      .option('--token <token>', 'API token; better piped on stdin or typed at the prompt, where shell history and ps cannot see it')
      .option('--owner-key <key>', 'the account owner public key, as the owner reads it to you: pinned, so this machine checks signatures against it (else the fingerprint is shown for you to confirm)')
      .action(async (options: { endpoint?: string; token?: string; ownerKey?: string }, command: Command) => {
        const out = ctx.output(command);
        const endpoint = await endpointFrom(ctx, options.endpoint);
        warnCleartext(out, endpoint);
        const token = (options.token ?? (await ctx.io.readSecret('API token: '))).trim();
        if (!token) throw new UsageError('No token given: pass --token, pipe it on stdin, or type it at the prompt', { field: 'token' });
        // Verify before saving, so a typo never replaces a working login.
        const client = ctx.clientFor(endpoint, token);
        const me = await client.call('GET /me');
        // Anyone but the owner pins the owner key (given, or shown for them to confirm) before
        // anything is saved: a key the API names otherwise refuses the login.
        await ensureOwnerKeyPin(ctx, me, out, options.ownerKey);
        await writeConfig(ctx.configPath, { endpoint, token });
        out.result({ endpoint, config: ctx.configPath, ...me }, () =>
          `Logged in to ${endpoint} as ${me.user.name} <${me.user.email}> (${me.user.role}) in ${me.accountName}.\nSaved to ${ctx.configPath}.`,
        );
        noteEnvironmentToken(ctx, out);
        // The owner's first login on an account without an owner key makes it; a deployer's, a signing key.
        await signOwnSelf(ctx, client, await ensureOwnerKey(ctx, client, me, out), me, out);
        await ensureSigningKey(ctx, client, me, out);
      }),
    [
      'latchkey login --endpoint https://api.example.com   # prompts for the token, then shows the owner key fingerprint to confirm',
      'echo "$LATCHKEY_CI_TOKEN" | latchkey login --endpoint https://api.example.com --owner-key "$OWNER_PUBLIC_KEY"',
    ],
  );

  examples(
    program
      .command('signup')
      .description('Create an account with you as its owner, and save the owner token like login does')
      .option('--endpoint <url>', 'API endpoint (default: LATCHKEY_ENDPOINT, then the saved one)')
      .requiredOption('--account <name>', 'account name, e.g. your organisation')
      .requiredOption('--name <name>', 'your name')
      .requiredOption('--email <email>', 'your email address')
      .action(async (options: { endpoint?: string; account: string; name: string; email: string }, command: Command) => {
        const out = ctx.output(command);
        const endpoint = await endpointFrom(ctx, options.endpoint);
        warnCleartext(out, endpoint);
        const created = await ctx
          .clientFor(endpoint)
          .call('POST /accounts', { body: { accountName: options.account, owner: { name: options.name, email: options.email } } });
        const replaced = Boolean((await ctx.loadConfig()).config.token);
        await writeConfig(ctx.configPath, { endpoint, token: created.token.secret });
        // The owner key is made here, once; its private half never leaves this machine.
        const client = ctx.clientFor(endpoint, created.token.secret);
        const me = await client.call('GET /me');
        const ownerKey = await ensureOwnerKey(ctx, client, me, out);
        await signOwnSelf(ctx, client, ownerKey, me, out);
        // The owner token is kept in the 0600 file only; `tokens create` makes more for CI.
        const view = { accountId: created.accountId, ownerId: created.ownerId, tokenId: created.token.id, expiresAt: created.token.expiresAt, endpoint, config: ctx.configPath, ownerKey };
        out.result(view, () =>
          [
            `Created account ${options.account} (${created.accountId}) with you as owner (${created.ownerId}).`,
            `Your owner token ${created.token.id} (expires ${formatTime(created.token.expiresAt)}) is saved in ${ctx.configPath}.`,
            'Next: `latchkey users add`, `latchkey envs create`, `latchkey apps create`, `latchkey enrolments create`.',
          ].join('\n'),
        );
        if (replaced) out.note(`Note: this replaced the token saved earlier in ${ctx.configPath}.`);
        noteEnvironmentToken(ctx, out);
      }),
    ['latchkey signup --endpoint http://127.0.0.1:4000 --account Acme --name "Ada Lovelace" --email ada@example.com'],
  );

  examples(
    program
      .command('whoami')
      .description('Show the account, person and token the CLI is using')
      .action(async (_options: unknown, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const me = await client.call('GET /me');
        const source = ctx.io.env.LATCHKEY_TOKEN ? 'LATCHKEY_TOKEN' : ctx.configPath;
        out.result({ endpoint: client.endpoint, tokenSource: source, ...me }, () =>
          formatRecord([
            ['account', `${me.accountName} (${me.accountId})`],
            ['user', `${me.user.name} <${me.user.email}> (${me.user.userId})`],
            ['role', me.user.role],
            ['token', `${me.tokenId} (from ${source})`],
            ['endpoint', client.endpoint],
          ]),
        );
      }),
    ['latchkey whoami', 'latchkey whoami --json | jq -r .user.role'],
  );

  examples(
    program
      .command('logout')
      .description('Forget the saved token (the endpoint stays); --revoke also revokes it at the API first')
      .option('--revoke', 'revoke the token at the API before forgetting it')
      .action(async (options: { revoke?: boolean }, command: Command) => {
        const out = ctx.output(command);
        const { config, exists } = await ctx.loadConfig();
        if (!exists || !config.token) {
          out.result({ loggedOut: false }, () => 'No saved token; nothing to do.');
          return;
        }
        let revoked: string | undefined;
        if (options.revoke) {
          const endpoint = resolveSession(ctx.io.env, config).endpoint;
          if (!endpoint) throw new UsageError('No API endpoint is configured, so the token cannot be revoked');
          const client = ctx.clientFor(endpoint, config.token);
          const me = await client.call('GET /me');
          revoked = (await client.call('DELETE /tokens/{id}', { params: { id: me.tokenId } })).tokenId;
        }
        await writeConfig(ctx.configPath, { ...(config.endpoint ? { endpoint: config.endpoint } : {}) });
        out.result({ loggedOut: true, revoked }, () => (revoked ? `Revoked ${revoked} and removed it from ${ctx.configPath}.` : `Removed the token from ${ctx.configPath}.`));
      }),
    ['latchkey logout', 'latchkey logout --revoke'],
  );
};
