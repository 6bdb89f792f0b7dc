import type { Command } from 'commander';
import { toB64 } from '#shared/protocol/trust.ts';
import { examples } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { agentInitHint, fingerprintOf, ownerKeyPath, readKeyFile, signingKeyPath } from '../keys.ts';
import { formatRecord } from '../output.ts';

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
};
