import type { Mailer } from '#shared/ports/approval-links.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { PasskeyRegistrationStore, RegisteredPasskey } from '#shared/ports/passkey-registrations.ts';
import { passkeyFingerprint } from '#shared/protocol/passkeys.ts';
import { isActive } from '../accounts/model.ts';
import type { Act } from '../access/act.ts';
import type { Actor } from '../access/actor.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { passkeyLinkEmail } from './email.ts';
import { hashPasskeyLinkSecret, loadPasskeyLink, newPasskeyLinkSecret, PASSKEY_LINK_HOURS, passkeyLinkStatus, passkeyLinkUrl } from './links.ts';
import type { PasskeyPageModel } from './page.ts';

type Deps = {
  store: Pick<PasskeyRegistrationStore, 'putLink' | 'getLink' | 'credentialsOf'>;
  directory: Pick<DirectoryStore, 'getUser'>;
  act: Act;
  /** Only sending a link mails; the other use cases never touch it. */
  mailer: Mailer;
  clock: Clock;
  /** Base URL of the API (PUBLIC_API_URL), read when a link is made. */
  publicUrl: () => string;
};

/** A registered credential as the API shows it: the account is the caller's own. */
const viewOf = ({ accountId: _accountId, ...credential }: RegisteredPasskey) => credential;

export const makePasskeyLinks = ({ store, directory, act, mailer, clock, publicUrl }: Deps) => ({
  /**
   * The owner sends a person a registration link.
   * 1. The person is of this account and active (any role: the owner may register their own).
   * 2. A fresh single-use link bound to them, valid for a day; only its hash is stored.
   * 3. It is mailed to them; a mail that cannot be sent does not undo the link: the owner gets
   *    the URL either way, and the answer says whether it was emailed.
   */
  create: (actor: Actor, userId: string) =>
    act(actor, 'users:passkey-link', { target: { type: 'user', id: userId } }, async () => {
      const person = await directory.getUser(actor.accountId, userId);
      if (!person) throw new NotFoundError('No such user');
      if (!isActive(person)) throw new ConflictError(`${person.email} is ${person.status}: only an active person can register a passkey`);
      const now = clock.now();
      const secret = newPasskeyLinkSecret();
      const expiresAt = new Date(now.getTime() + PASSKEY_LINK_HOURS * 3_600_000).toISOString();
      await store.putLink({ secretHash: hashPasskeyLinkSecret(secret), accountId: actor.accountId, userId, createdBy: actor.userId, createdAt: now.toISOString(), expiresAt });
      const url = passkeyLinkUrl(publicUrl(), secret);
      const owner = await directory.getUser(actor.accountId, actor.userId);
      let emailed = true;
      try {
        await mailer.send({ to: person.email, ...passkeyLinkEmail({ personName: person.name, ownerName: owner?.name ?? 'The account owner', url, expiresAt }) });
      } catch {
        emailed = false;
      }
      return { url, expiresAt, emailed };
    }),

  /** The owner reads what a person registered: proposals, until the owner's statement names them. */
  list: (actor: Actor, userId: string) =>
    act(actor, 'users:list-passkeys', { audited: false }, async () => {
      if (!(await directory.getUser(actor.accountId, userId))) throw new NotFoundError('No such user');
      return { items: (await store.credentialsOf(actor.accountId, userId)).map(viewOf) };
    }),

  /** GET of the page: what the link is worth now. Reads only — mail scanners open links. */
  view: async (secret: string): Promise<PasskeyPageModel> => {
    const { link, person } = await loadPasskeyLink(secret, store, directory);
    const status = passkeyLinkStatus(link, person, clock.now());
    if (status === 'unknown' || !link || !person) return { status: 'unknown' };
    const registered = link.credential && {
      fingerprint: passkeyFingerprint(link.credential),
      registeredAt: link.credential.registeredAt,
      ...(link.credential.label ? { label: link.credential.label } : {}),
    };
    return { status, personName: person.name, expiresAt: link.expiresAt, ...(registered ? { registered } : {}) };
  },
});

export type PasskeyLinks = ReturnType<typeof makePasskeyLinks>;
