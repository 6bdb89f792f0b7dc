import type { Command } from 'commander';
import { groupedFingerprint, type PasskeyCredential } from '#shared/protocol/passkeys.ts';
import { examples } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { loadOwnerSigningKey, pinnedOwnerKey } from '../keys.ts';
import { signPersonPasskeys } from '../owner-statements.ts';
import { formatTime, type Column } from '../output.ts';
import { credentialToVouch, fingerprintOption, passkeyRows, withoutPasskey, withPasskey, type PasskeyRow } from '../passkeys.ts';
import { find, kinds } from '../resolve.ts';
import { readStatementPins } from '../statement-pins.ts';
import { newestStatement } from '../statements.ts';

// `latchkey users passkey-link|passkeys|vouch-passkey|withdraw-passkey`: the owner's side of
// registering a passkey (docs/trust.md, "Registering a passkey"). Fingerprints are computed here.

const passkeyColumns: Column<PasskeyRow>[] = [
  { header: 'fingerprint', value: (row) => row.fingerprint },
  { header: 'label', value: (row) => row.label },
  { header: 'alg', value: (row) => ({ [-7]: 'ES256', [-8]: 'Ed25519' })[row.algorithm] ?? String(row.algorithm) },
  { header: 'registered', value: (row) => (row.registered ? formatTime(row.registeredAt) : 'not listed') },
  { header: 'vouched', value: (row) => (row.vouched === undefined ? '?' : row.vouched) },
];

/**
 * The owner about to sign a passkey into PERSON's statement, or out of it: the fingerprint is well
 * formed and the owner key is on this machine before the person is looked up.
 */
const ownerActingOnPasskeysOf = async (ctx: Context, ref: string, fingerprintText: string) => {
  const fingerprint = fingerprintOption(fingerprintText);
  const client = await ctx.client();
  const me = await client.call('GET /me');
  await loadOwnerSigningKey(ctx, me);
  const user = await find(client, kinds.user, ref);
  return { fingerprint, client, me, user };
};

export const registerPasskeyCommands = (users: Command, ctx: Context) => {
  examples(
    users
      .command('passkey-link')
      .description(
        'Email PERSON a single-use link (valid 24 hours) to register a passkey. The page shows its fingerprint; have them read it to you by phone or in person, then run `latchkey users vouch-passkey`.',
      )
      .argument('<person>', 'email or user id')
      .action(async (ref: string, _options: unknown, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const user = await find(client, kinds.user, ref);
        const link = await client.call('POST /users/{id}/passkey-links', { params: { id: user.userId } });
        out.result({ userId: user.userId, email: user.email, ...link }, () =>
          [
            link.emailed
              ? `Emailed ${user.name} <${user.email}> a link to register a passkey (single use, valid until ${formatTime(link.expiresAt)}):`
              : `The email to ${user.email} could not be sent; hand them this link privately (single use, valid until ${formatTime(link.expiresAt)}):`,
            '',
            `  ${link.url}`,
            '',
            `Once they have registered, have them read you the fingerprint the page shows (by phone or in person), then run:`,
            `  latchkey users vouch-passkey ${user.email} --fingerprint "…"`,
          ].join('\n'),
        );
      }),
    ['latchkey users passkey-link grace@example.com'],
  );

  examples(
    users
      .command('passkeys')
      .description('List the passkeys PERSON registered, each with its fingerprint (computed here) and whether the owner’s current person statement vouches for it')
      .argument('<person>', 'email or user id')
      .action(async (ref: string, _options: unknown, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const me = await client.call('GET /me');
        const user = await find(client, kinds.user, ref);
        const { items } = await client.call('GET /users/{id}/passkeys', { params: { id: user.userId } });
        // "Vouched" is the owner's signed word, checked here under the pinned owner key.
        const ownerKey = await pinnedOwnerKey(ctx, me);
        const statement = ownerKey
          ? (await newestStatement(client, { kind: 'person', accountId: me.accountId, subject: user.userId, ownerPublicKey: ownerKey, pins: await readStatementPins(ctx.configPath, me.accountId) }))?.statement
          : undefined;
        const rows = passkeyRows(items, statement, ownerKey !== undefined);
        out.list(rows, passkeyColumns, { empty: `${user.email} has registered no passkey yet (\`latchkey users passkey-link ${user.email}\`).` });
        if (!ownerKey) out.note('Note: no owner key is pinned on this machine, so whether each is vouched for was not checked (?).');
        if (statement && statement.status !== 'active') out.note(`Note: ${user.email}'s person statement says ${statement.status}: none of their passkeys counts.`);
      }),
    ['latchkey users passkeys grace@example.com', 'latchkey users passkeys grace@example.com --json'],
  );

  examples(
    users
      .command('vouch-passkey')
      .description(
        'Vouch, with the owner key, for the passkey PERSON registered whose fingerprint they read to you (by phone or in person: not through Latchkey). ' +
          'The fingerprint is computed here from what the API lists; one that matches none is refused, so a swapped key is never signed.',
      )
      .argument('<person>', 'email or user id')
      .requiredOption('--fingerprint <hex>', 'the fingerprint the registration page showed them (spaces are ignored)')
      .action(async (ref: string, options: { fingerprint: string }, command: Command) => {
        // 1. The fingerprint is well formed and the owner key is here, before anything is asked.
        // 2. The registered credential whose fingerprint, computed here, is the one read out, for
        //    this API's origin; rebuilt from its id and key.
        // 3. The next person statement names it, all else as the newest statement says.
        const out = ctx.output(command);
        const { fingerprint, client, me, user } = await ownerActingOnPasskeysOf(ctx, ref, options.fingerprint);
        const { items } = await client.call('GET /users/{id}/passkeys', { params: { id: user.userId } });
        const credential = await credentialToVouch(items, fingerprint, client.endpoint, user.name);
        const { signed, unchanged } = await signPersonPasskeys(ctx, client, me, out, user, (previous) => withPasskey(previous?.passkeys, credential), (next) => [
          `passkey   ${credential.label ?? '(no label)'}, ${credential.algorithm === -8 ? 'Ed25519' : 'ES256'}, for ${credential.origin}`,
          `          fingerprint ${groupedFingerprint(fingerprint)}`,
          `passkeys  ${next.passkeys?.length ?? 0} vouched for`,
        ]);
        out.result({ userId: user.userId, email: user.email, fingerprint, credential, statement: signed }, () =>
          unchanged
            ? `${user.email}'s person statement already vouches for that passkey (version ${signed.statement.version}).`
            : `Vouched for ${user.email}'s passkey ${groupedFingerprint(fingerprint)}: person statement version ${signed.statement.version} names ${signed.statement.passkeys?.length ?? 0} passkey${signed.statement.passkeys?.length === 1 ? '' : 's'}; their approvals with it count from now on.`,
        );
      }),
    ['latchkey users vouch-passkey grace@example.com --fingerprint "3f1a 9c2e …"'],
  );

  examples(
    users
      .command('withdraw-passkey')
      .description('Withdraw, with the owner key, a passkey PERSON’s person statement vouches for: key servers and targets stop counting approvals made with it')
      .argument('<person>', 'email or user id')
      .requiredOption('--fingerprint <hex>', 'its fingerprint, as `latchkey users passkeys` shows it')
      .action(async (ref: string, options: { fingerprint: string }, command: Command) => {
        const out = ctx.output(command);
        const { fingerprint, client, me, user } = await ownerActingOnPasskeysOf(ctx, ref, options.fingerprint);
        let withdrawn: PasskeyCredential | undefined;
        const { signed } = await signPersonPasskeys(
          ctx,
          client,
          me,
          out,
          user,
          (previous) => {
            const change = withoutPasskey(previous, fingerprint, user.email);
            withdrawn = change.withdrawn;
            return change.kept;
          },
          (next) => [`withdraws ${groupedFingerprint(fingerprint)}`, `passkeys  ${next.passkeys?.length ?? 0} vouched for`],
        );
        out.result({ userId: user.userId, email: user.email, fingerprint, withdrawn, statement: signed }, () =>
          `Withdrew ${user.email}'s passkey ${groupedFingerprint(fingerprint)}: person statement version ${signed.statement.version} names ${signed.statement.passkeys?.length ?? 0}.`,
        );
      }),
    ['latchkey users withdraw-passkey grace@example.com --fingerprint 3f1a9c2e…'],
  );
};

