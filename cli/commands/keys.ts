import type { Command } from 'commander';
import { signingKeyStatementOf, vouchForSigningKey } from '#shared/protocol/signing-keys.ts';
import { fromB64, publicKey32, toB64 } from '#shared/protocol/trust.ts';
import { examples } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { signPerson } from '../owner-statements.ts';
import { UsageError } from '../errors.ts';
import { agentInitHint, fingerprintOf, loadOwnerSigningKey, ownerKeyPath, readKeyFile, signingKeyPath } from '../keys.ts';
import { formatRecord } from '../output.ts';
import { find, kinds } from '../resolve.ts';

type KeyRow = { publicKey: string; fingerprint: string; file?: string; here: 'private' | 'public only' | 'no'; registered: boolean };

export const registerKeys = (program: Command, ctx: Context) => {
  const keys = program.command('keys').description('Your owner and release-signing keys (private halves stay on this machine)');

  examples(
    keys
      .command('show')
      .description('Show the public halves and fingerprints of the owner key and your signing key, and where they are kept')
      .action(async (_options: unknown, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const me = await client.call('GET /me');
        const describe = async (file: string, registered: { publicKey: string; fingerprint: string } | undefined): Promise<KeyRow | undefined> => {
          const local = await readKeyFile(file);
          if (!local && !registered) return undefined;
          const publicKey = local ? toB64(local.publicKey) : registered!.publicKey;
          return {
            publicKey,
            fingerprint: local ? fingerprintOf(local.publicKey) : registered!.fingerprint,
            ...(local ? { file } : {}),
            here: local?.privateKey ? 'private' : local ? 'public only' : 'no',
            registered: registered?.publicKey === publicKey,
          };
        };
        const owner = await describe(ownerKeyPath(ctx.configPath, me.accountId), me.ownerKey);
        const signing = me.user.role === 'owner' ? owner && { ...owner, registered: me.signingKey?.publicKey === owner.publicKey } : await describe(signingKeyPath(ctx.configPath, me.user.userId), me.signingKey);
        const view = { accountId: me.accountId, ownerKey: owner ?? null, signingKey: signing ?? null };
        const block = (title: string, row: KeyRow | undefined) =>
          row
            ? `${title}\n${formatRecord([
                ['public key', row.publicKey],
                ['fingerprint', row.fingerprint],
                ['on this machine', row.here === 'no' ? 'no' : `${row.here} (${row.file})`],
                ['registered', row.registered],
              ]).replace(/^/gm, '  ')}`
            : `${title}\n  none yet`;
        out.result(view, () =>
          [
            block('Owner key (signs agent enrolments)', owner),
            block(me.user.role === 'owner' ? 'Release-signing key (the owner key)' : 'Release-signing key', signing),
            ...(owner ? ['', `Agents are initialised with: ${agentInitHint(Buffer.from(owner.publicKey, 'base64url'))}`] : []),
          ].join('\n'),
        );
      }),
    ['latchkey keys show', 'latchkey keys show --json | jq -r .ownerKey.publicKey'],
  );

  examples(
    keys
      .command('vouch')
      .description(
        'Sign, with the owner key, a statement that KEY is the release-signing key of PERSON: targets install only releases signed by a key the owner vouched for. ' +
          'Take KEY from that person (`latchkey keys show` on their machine), not from the API: the statement is only as good as where the key came from.',
      )
      .argument('<person>', 'email or user id')
      .requiredOption('--key <public-key>', 'their release-signing public key, as they read it to you')
      .action(async (person: string, options: { key: string }, command: Command) => {
        const out = ctx.output(command);
        if (!publicKey32.safeParse(options.key).success) throw new UsageError('--key must be a public key (43 characters of base64url)');
        const client = await ctx.client();
        const me = await client.call('GET /me');
        const owner = await loadOwnerSigningKey(ctx, me);
        const user = await find(client, kinds.user, person);
        const statement = signingKeyStatementOf({ accountId: me.accountId, userId: user.userId }, options.key, new Date().toISOString());
        const vouched = await client.call('PUT /users/{id}/signing-key/vouch', { params: { id: user.userId }, body: vouchForSigningKey(owner.privateKey, statement) });
        // The person statement is what key servers and targets check (docs/trust.md).
        await signPerson(ctx, client, me, out, user, options.key);
        out.result({ userId: user.userId, email: user.email, ...vouched }, () => `Vouched for ${user.email}'s release-signing key ${fingerprintOf(fromB64(options.key))}.`);
      }),
    ['latchkey keys vouch grace@example.com --key 3q2-7w…'],
  );
};
