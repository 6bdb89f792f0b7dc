import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { generateRawKeyPair, publicFromPrivate } from '#shared/crypto/raw-keys.ts';
import { signingKeyStatementOf, vouchForSigningKey } from '#shared/protocol/signing-keys.ts';
import { fromB64, keyFingerprint, publicKey32, toB64 } from '#shared/protocol/trust.ts';
import type { ApiClient, ResponseOf } from './api-client.ts';
import type { Context } from './context.ts';
import { RefusedError, UsageError } from './errors.ts';
import type { Output } from './output.ts';

/**
 * The keys that stay on this machine: the account owner's Ed25519 key (it signs enrolments, so a
 * compromised backend cannot enrol an agent of its own) and each person's release-signing key.
 * One file per account or person, so signing up to a second account never replaces the key of
 * the first: losing an owner key means no more agents can ever be enrolled in that account.
 */

export type Me = ResponseOf<'GET /me'>;

const keyFileSchema = z.strictObject({
  v: z.literal(1),
  kind: z.enum(['owner', 'signing']),
  accountId: z.string(),
  userId: z.string().optional(),
  publicKey: publicKey32,
  /** The Ed25519 seed. Absent in a pin: the owner's public key, kept on a deployer's machine. */
  privateKey: publicKey32.optional(),
  createdAt: z.string(),
});
type KeyFile = z.infer<typeof keyFileSchema>;

export type StoredKey = {
  path: string;
  publicKey: Buffer;
  /** Present only where the key was made (or copied with its file). */
  privateKey?: Buffer;
};

export const ownerKeyPath = (configPath: string, accountId: string) => path.join(path.dirname(configPath), `owner-key.${accountId}.json`);
export const signingKeyPath = (configPath: string, userId: string) => path.join(path.dirname(configPath), `signing-key.${userId}.json`);

export const fingerprintOf = (publicKey: Uint8Array) => keyFingerprint(publicKey);

/**
 * Writes a new key file: 0600 from the first byte, in a 0700 directory we create, fsynced, then
 * hard-linked into place so an existing key file is never overwritten and never seen half written.
 */
const writeKeyFile = async (file: string, content: KeyFile): Promise<void> => {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new RefusedError(`${file} already exists; it is not replaced`);
    throw error;
  } finally {
    await unlink(temporary).catch(() => {});
  }
};

/** Reads a key file; undefined when there is none. Refuses one that others can read, like ssh. */
export const readKeyFile = async (file: string): Promise<StoredKey | undefined> => {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`Cannot read the key file ${file}: ${(error as Error).message}`);
  }
  let parsed: KeyFile;
  try {
    parsed = keyFileSchema.parse(JSON.parse(text));
  } catch {
    throw new UsageError(`The key file ${file} is not valid`);
  }
  const publicKey = fromB64(parsed.publicKey);
  if (!parsed.privateKey) return { path: file, publicKey };
  if (process.platform !== 'win32' && ((await stat(file)).mode & 0o077) !== 0) {
    throw new UsageError(`The key file ${file} can be read by other users`, { hint: `Run: chmod 600 ${file}` });
  }
  const privateKey = fromB64(parsed.privateKey);
  if (!publicFromPrivate('ed25519', privateKey).equals(publicKey)) throw new UsageError(`The key file ${file} is damaged: its halves do not match`);
  return { path: file, publicKey, privateKey };
};

const createKey = async (file: string, kind: KeyFile['kind'], ids: { accountId: string; userId?: string }): Promise<StoredKey> => {
  const pair = generateRawKeyPair('ed25519');
  await writeKeyFile(file, {
    v: 1,
    kind,
    ...ids,
    publicKey: toB64(pair.publicKey),
    privateKey: toB64(pair.privateKey),
    createdAt: new Date().toISOString(),
  });
  return { path: file, publicKey: pair.publicKey, privateKey: pair.privateKey };
};

const sameKey = (registered: { publicKey: string } | undefined, local: StoredKey) => registered?.publicKey === toB64(local.publicKey);

/**
 * The owner registers its own signing key (the owner key) with the owner key's statement for it,
 * which targets check before trusting a manifest signature (docs/signing-keys.md).
 */
const registerOwnSigningKey = (client: ApiClient, me: Me, owner: { publicKey: Uint8Array; privateKey: Uint8Array }) => {
  const publicKey = toB64(owner.publicKey);
  const statement = signingKeyStatementOf({ accountId: me.accountId, userId: me.user.userId }, publicKey, new Date().toISOString());
  return client.call('PUT /me/signing-key', { body: { publicKey, vouch: vouchForSigningKey(owner.privateKey, statement) } });
};

export const agentInitHint = (publicKey: Uint8Array) => `latchkey-agent init --owner-key ${toB64(publicKey)}`;

/**
 * The owner's side of "the CLI generates (once) an owner key that stays on the owner's machine":
 * at signup, and at login while the account has none. A key already on this machine for the
 * account is registered rather than replaced (a crash between saving and registering is thus
 * harmless). Only the public half leaves the machine.
 */
export const ensureOwnerKey = async (ctx: Context, client: ApiClient, me: Me, out: Output): Promise<{ publicKey: string; fingerprint: string } | undefined> => {
  if (me.user.role !== 'owner') return undefined;
  const file = ownerKeyPath(ctx.configPath, me.accountId);
  const local = await readKeyFile(file);
  if (me.ownerKey) {
    if (!local) {
      out.note(`Note: this account's owner key is not on this machine (${file}); enrolling agents needs it. Copy that file from the machine that holds it.`);
    } else if (!sameKey(me.ownerKey, local)) {
      out.note(`Warning: the API names owner key ${me.ownerKey.fingerprint}, not the one in ${file} (${fingerprintOf(local.publicKey)}).`);
    } else {
      out.note(`Owner key ${fingerprintOf(local.publicKey)}, in ${file}: people pin it with \`latchkey login --owner-key ${toB64(local.publicKey)}\`.`);
    }
    return { publicKey: me.ownerKey.publicKey, fingerprint: me.ownerKey.fingerprint };
  }
  const key = local?.privateKey ? local : await createKey(file, 'owner', { accountId: me.accountId, userId: me.user.userId });
  await client.call('PUT /account/owner-key', { body: { publicKey: toB64(key.publicKey) } });
  // The owner signs releases with the same key; registering it as the signing key too lets
  // everyone (agents included) find a pusher's key in one place.
  if (!me.signingKey) await registerOwnSigningKey(client, me, key as Required<StoredKey>);
  out.note(
    [
      `Your owner key was created and registered; its private half stays in ${file} (mode 0600). Back that file up:`,
      'without it no more agents can be enrolled in this account.',
      `  fingerprint  ${fingerprintOf(key.publicKey)}`,
      `  public key   ${toB64(key.publicKey)}`,
      `Agents are initialised with: ${agentInitHint(key.publicKey)}`,
    ].join('\n'),
  );
  return { publicKey: toB64(key.publicKey), fingerprint: fingerprintOf(key.publicKey) };
};

/** The owner key with its private half, for signing enrolments; refuses when it is not here. */
export const loadOwnerSigningKey = async (ctx: Context, me: Me): Promise<Required<StoredKey>> => {
  const file = ownerKeyPath(ctx.configPath, me.accountId);
  if (me.user.role !== 'owner') throw new RefusedError('Only the account owner can enrol agents: enrolments are signed with the owner key');
  const local = await readKeyFile(file);
  if (!local?.privateKey) {
    throw new RefusedError(`The owner key is not on this machine (${file})`, {
      hint: me.ownerKey
        ? 'Run this on the machine that holds it, or copy the file here (mode 0600).'
        : 'Run `latchkey login` to create and register one.',
    });
  }
  if (!me.ownerKey) throw new RefusedError('The owner key is not registered with the account yet', { hint: 'Run `latchkey login` to register it.' });
  if (!sameKey(me.ownerKey, local)) {
    throw new RefusedError(`The account's registered owner key (${me.ownerKey.fingerprint}) is not the one in ${file}; nothing was signed`);
  }
  return local as Required<StoredKey>;
};

/**
 * The owner public key this machine trusts for the account, never the API's word: the owner key
 * itself (on the owner's machine), the pin `latchkey login` made after the person confirmed the
 * fingerprint, or LATCHKEY_OWNER_KEY (CI, where nothing is kept between runs). Undefined when
 * there is none. One the API names otherwise is refused: a backend forging agents or statements
 * would name its own.
 */
export const pinnedOwnerKey = async (ctx: Context, me: Me): Promise<Buffer | undefined> => {
  const fromEnv = ctx.io.env.LATCHKEY_OWNER_KEY?.trim();
  let key: Buffer | undefined;
  let source: string;
  if (fromEnv) {
    if (!publicKey32.safeParse(fromEnv).success) throw new UsageError('LATCHKEY_OWNER_KEY must be the owner public key (43 characters of base64url)');
    key = fromB64(fromEnv);
    source = 'LATCHKEY_OWNER_KEY';
  } else {
    source = ownerKeyPath(ctx.configPath, me.accountId);
    key = (await readKeyFile(source))?.publicKey;
  }
  if (key && me.ownerKey && me.ownerKey.publicKey !== toB64(key)) {
    throw new RefusedError(`The API names owner key ${me.ownerKey.fingerprint}, but ${source} pins ${fingerprintOf(key)}; refusing to trust what it signs`, {
      hint: 'Check the owner key fingerprint with the account owner (`latchkey keys show` on their machine).',
    });
  }
  return key;
};

/** The pinned owner key, for anything that checks a signature; refuses, saying how to pin one, when there is none. */
// `_out` is kept for callers written when this pinned on first use and said so.
export const trustedOwnerKey = async (ctx: Context, me: Me, _out?: Output): Promise<Buffer> => {
  const key = await pinnedOwnerKey(ctx, me);
  if (key) return key;
  throw new RefusedError(`No owner key is pinned on this machine for account ${me.accountId}, so no signature can be checked`, {
    hint:
      'Run `latchkey login --owner-key KEY` with the owner public key the account owner gives you (`latchkey keys show` on their machine), ' +
      'or `latchkey login` and confirm the fingerprint it shows; in CI set LATCHKEY_OWNER_KEY to that key.',
  });
};

/**
 * At login, for a person who is not the owner: pin the owner key, so this machine checks
 * signatures against the owner's key and never the API's word. With `given` (the key the owner
 * read out) it is pinned if the API names the same one; without, the fingerprint is shown and
 * pinned once the person confirms it matches the owner's. A pin already here is kept.
 */
export const ensureOwnerKeyPin = async (ctx: Context, me: Me, out: Output, given?: string): Promise<{ publicKey: string; fingerprint: string } | undefined> => {
  if (me.user.role === 'owner') return undefined;
  const file = ownerKeyPath(ctx.configPath, me.accountId);
  const pinned = (await readKeyFile(file))?.publicKey;
  const view = (key: Uint8Array) => ({ publicKey: toB64(key), fingerprint: fingerprintOf(key) });
  const pin = async (publicKey: string) => {
    await writeKeyFile(file, { v: 1, kind: 'owner', accountId: me.accountId, publicKey, createdAt: new Date().toISOString() });
    out.note(`Pinned the owner key ${fingerprintOf(fromB64(publicKey))} in ${file}: this machine checks signatures against it.`);
    return view(fromB64(publicKey));
  };
  if (given !== undefined) {
    if (!publicKey32.safeParse(given).success) throw new UsageError('--owner-key must be the owner public key (43 characters of base64url), not its fingerprint', { field: 'owner-key' });
    if (me.ownerKey && me.ownerKey.publicKey !== given) {
      throw new RefusedError(`The API names owner key ${me.ownerKey.fingerprint}, not the key you gave (${fingerprintOf(fromB64(given))}): nothing was pinned`, {
        hint: 'Check the key with the account owner; if theirs is the one you gave, the API is not to be trusted.',
      });
    }
    if (pinned) {
      if (toB64(pinned) !== given) throw new RefusedError(`${file} already pins owner key ${fingerprintOf(pinned)}, not the one you gave; it is not replaced`);
      return view(pinned);
    }
    return pin(given);
  }
  if (pinned) {
    await pinnedOwnerKey(ctx, me);
    out.note(`Owner key pinned on this machine: ${fingerprintOf(pinned)}.`);
    return view(pinned);
  }
  if (!me.ownerKey) {
    out.note('The account has no owner key yet. Once the owner has logged in, pin it: `latchkey login --owner-key KEY` (the key the owner reads out).');
    return undefined;
  }
  out.note(
    [
      'The account owner key, as the API names it:',
      `  fingerprint  ${me.ownerKey.fingerprint}`,
      `  public key   ${me.ownerKey.publicKey}`,
      'Compare the fingerprint with the one the account owner reads out (`latchkey keys show` on their machine).',
    ].join('\n'),
  );
  const answer = (await ctx.io.readSecret('Type yes if it matches, to pin it: ')).trim().toLowerCase();
  if (answer === 'yes') return pin(me.ownerKey.publicKey);
  out.note('Not pinned: commands that check signatures will refuse until it is. Pin it with `latchkey login --owner-key KEY`, or set LATCHKEY_OWNER_KEY.');
  return undefined;
};

/**
 * LATCHKEY_SIGNING_KEY: a CI job's release-signing key (the `privateKey` of its signing-key file,
 * from the CI's secret store), where no file is kept between runs. It must still be the key the
 * account registered for this person and the owner vouched for.
 */
export const signingKeyFromEnv = (ctx: Context): Required<StoredKey> | undefined => {
  const text = ctx.io.env.LATCHKEY_SIGNING_KEY?.trim();
  if (!text) return undefined;
  if (!publicKey32.safeParse(text).success) throw new UsageError('LATCHKEY_SIGNING_KEY must be a signing key\'s private half (43 characters of base64url: "privateKey" in its key file)');
  const privateKey = fromB64(text);
  return { path: 'LATCHKEY_SIGNING_KEY', publicKey: publicFromPrivate('ed25519', privateKey), privateKey };
};

/**
 * The key this person signs release manifests with: the owner key for the owner, else a
 * signing key of their own, made and registered the first time it is needed.
 */
export const releaseSigner = async (ctx: Context, client: ApiClient, me: Me, out: Output): Promise<Required<StoredKey>> => {
  if (me.user.role === 'owner') {
    const owner = await loadOwnerSigningKey(ctx, me);
    if (me.signingKey && !sameKey(me.signingKey, owner)) throw new RefusedError(`Your registered signing key (${me.signingKey.fingerprint}) is not your owner key`);
    // Also for a key registered before the owner vouched for keys: targets now require it.
    if (!me.signingKey?.vouched) await registerOwnSigningKey(client, me, owner);
    return owner;
  }
  const file = signingKeyPath(ctx.configPath, me.user.userId);
  const local = signingKeyFromEnv(ctx) ?? (await readKeyFile(file));
  if (me.signingKey) {
    if (!local?.privateKey) {
      throw new RefusedError(`Your release-signing key is not on this machine (${file})`, {
        hint: 'Push from the machine that holds it, or copy that file here (mode 0600); in CI set LATCHKEY_SIGNING_KEY to its "privateKey".',
      });
    }
    if (!sameKey(me.signingKey, local)) throw new RefusedError(`Your registered signing key (${me.signingKey.fingerprint}) is not the one in ${local.path}`);
    if (!me.signingKey.vouched) throw unvouched(me);
    return local as Required<StoredKey>;
  }
  const key = await registerSigningKey(ctx, client, me, local, out);
  throw unvouched({ ...me, signingKey: { publicKey: toB64(key.publicKey), fingerprint: fingerprintOf(key.publicKey) } });
};

/** A person's own signing key, made (unless its file is here) and registered; the owner vouches for it next. */
const registerSigningKey = async (ctx: Context, client: ApiClient, me: Me, local: StoredKey | undefined, out: Output) => {
  const file = signingKeyPath(ctx.configPath, me.user.userId);
  const key = local?.privateKey ? local : await createKey(file, 'signing', { accountId: me.accountId, userId: me.user.userId });
  await client.call('PUT /me/signing-key', { body: { publicKey: toB64(key.publicKey) } });
  out.note(
    `Created and registered your release-signing key ${fingerprintOf(key.publicKey)}; its private half stays in ${file} (mode 0600). ` +
      `Before you push, the account owner vouches for it: \`latchkey keys vouch ${me.user.email} --key ${toB64(key.publicKey)}\`.`,
  );
  return key;
};

/** Targets install only what a key the owner vouched for signed: pushing before that would be in vain. */
const unvouched = (me: Me) =>
  new RefusedError(`Your release-signing key ${me.signingKey!.fingerprint} is not vouched for by the account owner yet; targets would refuse what it signs, so nothing was pushed`, {
    hint: `Give the account owner your public key (\`latchkey keys show\`); they run: latchkey keys vouch ${me.user.email} --key ${me.signingKey!.publicKey}`,
  });

/** At login: a deployer or an approver gets a signing key once (releases, intents, approvals), as the owner gets the owner key. */
export const ensureSigningKey = async (ctx: Context, client: ApiClient, me: Me, out: Output): Promise<void> => {
  if (me.user.role === 'owner' || me.signingKey) return;
  await registerSigningKey(ctx, client, me, await readKeyFile(signingKeyPath(ctx.configPath, me.user.userId)), out);
};
