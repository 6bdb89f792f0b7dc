import { describe, expect, it } from 'vitest';
import { makeAct } from '#shared/domain/access/act.ts';
import type { Actor } from '#shared/domain/access/actor.ts';
import type { User } from '#shared/domain/accounts/model.ts';
import { makeAuditTrail } from '#shared/domain/audit/audit-trail.ts';
import { ConflictError, ForbiddenError, GoneError, NotFoundError, ValidationError } from '#shared/domain/errors.ts';
import { hashPasskeyLinkSecret, webBaseOf } from '#shared/domain/passkeys/links.ts';
import { makePasskeyLinks } from '#shared/domain/passkeys/passkey-links.ts';
import { makePasskeyRegistration } from '#shared/domain/passkeys/registration.ts';
import type { Mail } from '#shared/ports/approval-links.ts';
import { passkeyFingerprint, webOriginOf } from '#shared/protocol/passkeys.ts';
import { registrationResponse } from '#shared/protocol/passkey-registration.ts';
import { inMemoryDirectory } from '../../support/in-memory-directory.ts';
import { memoryAuditLog } from '../../support/memory-audit-log.ts';
import { memoryPasskeyRegistrations } from '../../support/memory-passkey-registrations.ts';
import { softAuthenticator } from '../../support/soft-authenticator.ts';

const accountId = `acc_${'1'.repeat(32)}`;
const ownerId = `usr_${'0'.repeat(32)}`;
const personId = `usr_${'2'.repeat(32)}`;
const PUBLIC_URL = 'http://127.0.0.1:4000';
const where = webOriginOf(PUBLIC_URL);
const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const HOUR = 3_600_000;

const user = (userId: string, role: User['role'], name: string): User => ({ accountId, userId, name, email: `${name.split(' ')[0]!.toLowerCase()}@example.com`, role, createdAt: '2026-11-01T00:00:00.000Z' });

/** The use cases over in-memory ports and a clock the test moves. */
const world = async () => {
  const directory = inMemoryDirectory();
  await directory.store.putUser(user(ownerId, 'owner', 'Olive Owner'));
  await directory.store.putUser(user(personId, 'approver', 'Grace <Hopper>'));
  const store = memoryPasskeyRegistrations();
  const log = memoryAuditLog();
  let now = T0;
  const clock = { now: () => new Date(now) };
  const audit = makeAuditTrail({ log, clock });
  const mails: Mail[] = [];
  let mailFails = false;
  const mailer = {
    send: async (mail: Mail) => {
      if (mailFails) throw new Error('sandbox');
      mails.push(mail);
    },
  };
  const links = makePasskeyLinks({ store, directory: directory.store, act: makeAct(audit), mailer, clock, publicUrl: () => PUBLIC_URL });
  const registration = makePasskeyRegistration({ store, directory: directory.store, audit, clock, webOrigin: () => where });
  const owner: Actor = { accountId, userId: ownerId, role: 'owner', tokenId: 'tok_owner' };
  const secretOf = (url: string) => url.split('/').at(-1)!;
  /** A link for the person, its secret, and registration options for it. */
  const optionsFor = async () => {
    const secret = secretOf((await links.create(owner, personId)).url);
    return { secret, options: await registration.options(secret) };
  };
  return {
    directory, store, log, links, registration, owner, mails, secretOf, optionsFor,
    failMail: () => void (mailFails = true),
    advance: (ms: number) => void (now += ms),
    events: () => log.events(accountId),
  };
};

describe('a registration link (makePasskeyLinks.create)', () => {
  it('is single use material for one person: only its hash is stored, it expires in 24 h, its URL is the web origin’s, and it is mailed to them', async () => {
    const w = await world();
    const created = await w.links.create(w.owner, personId);
    expect(created.url).toMatch(/^http:\/\/localhost:4000\/passkeys\/lkp_[A-Za-z0-9_-]{43}$/);
    expect(created).toMatchObject({ expiresAt: new Date(T0 + 24 * HOUR).toISOString(), emailed: true });
    const secret = w.secretOf(created.url);
    const stored = [...w.store.links.values()];
    expect(stored).toEqual([{ secretHash: hashPasskeyLinkSecret(secret), accountId, userId: personId, createdBy: ownerId, createdAt: new Date(T0).toISOString(), expiresAt: created.expiresAt }]);
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect(w.mails).toHaveLength(1);
    expect(w.mails[0]).toMatchObject({ to: 'grace@example.com', subject: 'Register a passkey for Latchkey approvals' });
    expect(w.mails[0]!.text).toContain(created.url);
    expect(w.mails[0]!.text).toContain('by phone or in person');
    // The person's name is escaped in the HTML part.
    expect(w.mails[0]!.html).toContain('Grace &lt;Hopper&gt;');
    expect(w.events().at(-1)).toMatchObject({ action: 'users:passkey-link', outcome: 'succeeded', target: { type: 'user', id: personId } });
  });

  it('is made even when the mail cannot be sent: the owner gets the URL and is told', async () => {
    const w = await world();
    w.failMail();
    const created = await w.links.create(w.owner, personId);
    expect(created.emailed).toBe(false);
    expect(w.store.links.size).toBe(1);
  });

  it('only the owner sends one; only to an active person of the account (each refusal audited, nothing stored)', async () => {
    const w = await world();
    const approver: Actor = { accountId, userId: personId, role: 'approver', tokenId: 'tok_a' };
    await expect(w.links.create(approver, personId)).rejects.toBeInstanceOf(ForbiddenError);
    await expect(w.links.create(w.owner, `usr_${'9'.repeat(32)}`)).rejects.toBeInstanceOf(NotFoundError);
    await w.directory.store.setUserStatus(accountId, personId, 'disabled', new Date(T0).toISOString());
    await expect(w.links.create(w.owner, personId)).rejects.toBeInstanceOf(ConflictError);
    expect(w.store.links.size).toBe(0);
    expect(w.events().map((e) => [e.action, e.outcome])).toEqual([
      ['users:passkey-link', 'refused'],
      ['users:passkey-link', 'refused'],
      ['users:passkey-link', 'refused'],
    ]);
  });

  it('the owner may register a passkey of their own', async () => {
    const w = await world();
    expect((await w.links.create(w.owner, ownerId)).url).toContain('/passkeys/lkp_');
  });
});

describe('registering through the link (makePasskeyRegistration)', () => {
  it('options require user verification, ask for no attestation, offer Ed25519 then ES256, and bind the challenge to the link', async () => {
    const w = await world();
    const { secret, options } = await w.optionsFor();
    expect(options).toMatchObject({
      rp: { name: 'Latchkey', id: 'localhost' },
      user: { name: 'grace@example.com', displayName: 'Grace <Hopper>' },
      attestation: 'none',
      authenticatorSelection: { userVerification: 'required' },
      excludeCredentials: [],
    });
    expect(options.pubKeyCredParams.map((p) => p.alg)).toEqual([-8, -7]);
    expect(w.store.links.get(hashPasskeyLinkSecret(secret))!.challenge).toBe(options.challenge);
  });

  for (const algorithm of [-7, -8] as const) {
    it(`a software authenticator (${algorithm === -7 ? 'ES256' : 'Ed25519'}) registers once: the fingerprint is the credential’s, the link is used, a second use is refused`, async () => {
      const w = await world();
      const authenticator = softAuthenticator(algorithm);
      const { secret, options } = await w.optionsFor();
      const response = registrationResponse.parse(authenticator.register({ challenge: options.challenge, ...where }));
      const { fingerprint } = await w.registration.register(secret, { response, label: 'laptop' });
      expect(fingerprint).toBe(passkeyFingerprint(authenticator.credential(where)));
      const listed = (await w.links.list(w.owner, personId)).items;
      expect(listed).toEqual([{ ...authenticator.credential(where), label: 'laptop', userId: personId, registeredAt: new Date(T0).toISOString() }]);
      expect(w.events().at(-1)).toMatchObject({ action: 'users:register-passkey', outcome: 'succeeded', actor: { userId: personId, tokenId: expect.stringMatching(/^passkey-link:[0-9a-f]{16}$/) } });

      await expect(w.registration.register(secret, { response })).rejects.toBeInstanceOf(ConflictError);
      await expect(w.registration.options(secret)).rejects.toThrow(/already used/);
      expect(await w.links.view(secret)).toMatchObject({ status: 'used', registered: { fingerprint, label: 'laptop' } });
    });
  }

  it('a second link excludes the credentials registered already, and refuses the same one again', async () => {
    const w = await world();
    const authenticator = softAuthenticator();
    const first = await w.optionsFor();
    await w.registration.register(first.secret, { response: registrationResponse.parse(authenticator.register({ challenge: first.options.challenge, ...where })) });
    const second = await w.optionsFor();
    expect(second.options.excludeCredentials).toEqual([{ id: authenticator.credential(where).credentialId, type: 'public-key' }]);
    await expect(w.registration.register(second.secret, { response: registrationResponse.parse(authenticator.register({ challenge: second.options.challenge, ...where })) })).rejects.toThrow(/already registered/);
    expect(await w.links.view(second.secret)).toMatchObject({ status: 'open' });
  });

  const refusedWithoutWrite = async (make: (w: Awaited<ReturnType<typeof world>>, challenge: string) => unknown, error: unknown, message: RegExp) => {
    const w = await world();
    const { secret, options } = await w.optionsFor();
    const before = structuredClone([...w.store.links.values()]);
    const attempt = w.registration.register(secret, { response: registrationResponse.parse(make(w, options.challenge)) });
    await expect(attempt).rejects.toBeInstanceOf(error);
    await expect(attempt).rejects.toThrow(message);
    expect([...w.store.links.values()]).toEqual(before);
    expect(w.events().at(-1)).toMatchObject({ action: 'users:register-passkey', outcome: 'refused' });
  };

  it('a response from another origin is refused (400) and nothing is written', () =>
    refusedWithoutWrite((_w, challenge) => softAuthenticator().register({ challenge, origin: 'https://evil.example', rpId: where.rpId }), ValidationError, /origin/));

  it('a response for another RP ID is refused', () => refusedWithoutWrite((_w, challenge) => softAuthenticator().register({ challenge, origin: where.origin, rpId: 'evil.example' }), ValidationError, /RP ID/));

  it('a response without user verification is refused', () => refusedWithoutWrite((_w, challenge) => softAuthenticator().register({ challenge, ...where, userVerified: false }), ValidationError, /verif/i));

  it('a response to another challenge is refused', () => refusedWithoutWrite(() => softAuthenticator().register({ challenge: 'AAAAAAAAAAAAAAAAAAAAAA', ...where }), ValidationError, /challenge/));

  it('an assertion passed off as a registration is refused', () => refusedWithoutWrite((_w, challenge) => softAuthenticator().register({ challenge, ...where, type: 'webauthn.get' }), ValidationError, /type/));

  it('a response to options that newer ones replaced is refused', async () => {
    const w = await world();
    const { secret, options } = await w.optionsFor();
    await w.registration.options(secret);
    await expect(w.registration.register(secret, { response: registrationResponse.parse(softAuthenticator().register({ challenge: options.challenge, ...where })) })).rejects.toBeInstanceOf(ValidationError);
    expect(await w.links.view(secret)).toMatchObject({ status: 'open' });
  });

  it('registering before asking for options is refused (409)', async () => {
    const w = await world();
    const secret = w.secretOf((await w.links.create(w.owner, personId)).url);
    await expect(w.registration.register(secret, { response: registrationResponse.parse(softAuthenticator().register({ challenge: 'AAAAAAAAAAAAAAAAAAAAAA', ...where })) })).rejects.toThrow(/options first/);
  });

  it('an expired link says gone (410), an unknown or malformed one not found (404), a disabled person’s link not found; nothing is written', async () => {
    const w = await world();
    const { secret, options } = await w.optionsFor();
    const response = registrationResponse.parse(softAuthenticator().register({ challenge: options.challenge, ...where }));
    w.advance(24 * HOUR);
    await expect(w.registration.options(secret)).rejects.toBeInstanceOf(GoneError);
    await expect(w.registration.register(secret, { response })).rejects.toBeInstanceOf(GoneError);
    expect(await w.links.view(secret)).toMatchObject({ status: 'expired' });
    await expect(w.registration.options(`lkp_${'A'.repeat(43)}`)).rejects.toBeInstanceOf(NotFoundError);
    await expect(w.registration.options('nonsense')).rejects.toBeInstanceOf(NotFoundError);
    expect(await w.links.view('nonsense')).toEqual({ status: 'unknown' });

    const fresh = await w.optionsFor();
    await w.directory.store.setUserStatus(accountId, personId, 'disabled', new Date().toISOString());
    await expect(w.registration.register(fresh.secret, { response: registrationResponse.parse(softAuthenticator().register({ challenge: fresh.options.challenge, ...where })) })).rejects.toBeInstanceOf(NotFoundError);
    expect(w.events().at(-1)).toMatchObject({ outcome: 'refused', reason: 'The person was disabled: their passkey links no longer work' });
    expect(await w.links.view(fresh.secret)).toEqual({ status: 'unknown' });
    expect([...w.store.links.values()].some((link) => link.usedAt)).toBe(false);
  });

  it('two registrations racing on one link: one wins, the other is told the link was used', async () => {
    const w = await world();
    const { secret, options } = await w.optionsFor();
    const [a, b] = [softAuthenticator(), softAuthenticator()].map((auth) => registrationResponse.parse(auth.register({ challenge: options.challenge, ...where })));
    const results = await Promise.allSettled([w.registration.register(secret, { response: a! }), w.registration.register(secret, { response: b! })]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
    expect((await w.links.list(w.owner, personId)).items).toHaveLength(1);
  });
});

describe('where the pages are (webBaseOf)', () => {
  it('a loopback API serves its pages as localhost (WebAuthn takes no IP RP ID), keeping port and path', () => {
    expect(webBaseOf('http://127.0.0.1:4000')).toBe('http://localhost:4000');
    expect(webBaseOf('https://abc.execute-api.eu-west-1.amazonaws.com/prod/')).toBe('https://abc.execute-api.eu-west-1.amazonaws.com/prod');
  });
});
