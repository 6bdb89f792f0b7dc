import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HTML_HEADERS, SCRIPTED_PAGE_CSP } from '#functions/http/html.ts';
import { passkeyFingerprint } from '#shared/protocol/passkeys.ts';
import { newAccount } from '../support/accounts.ts';
import { passkeyLinkItem, updatePasskeyLinkItem } from '../support/backend-writes.ts';
import { api } from '../support/http.ts';
import { localWebOrigin, passkeyLinkFor, registerThrough } from '../support/passkey-registration.ts';
import { softAuthenticator } from '../support/soft-authenticator.ts';

type AuditItem = { action: string; outcome: string; reason?: string; actor: { userId: string; tokenId: string } | null; target?: { type: string; id: string } };

const expectProblem = (response: { status: number; contentType: string; body: { title?: string } }, status: number, title?: RegExp) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.contentType).toContain('application/problem+json');
  if (title) expect(response.body.title).toMatch(title);
};

/** An account, and a registration link the owner sent its approver (as mailed). */
const linkSent = async () => {
  const a = await newAccount();
  const created = await a.owner('POST', `/users/${a.approver.user.userId}/passkey-links`);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return { a, created: created.body as { url: string; expiresAt: string; emailed: boolean }, link: await passkeyLinkFor(a.approver.user.email) };
};

describe('passkey registration links (POST /users/{id}/passkey-links)', () => {
  it('the owner sends one: 201 with the URL (localhost for the loopback API), a 24 h expiry, and the same link mailed to the person', async () => {
    const before = Date.now();
    const { created, link } = await linkSent();
    expect(created.emailed).toBe(true);
    expect(created.url).toMatch(new RegExp(`^${localWebOrigin().origin}/passkeys/lkp_[A-Za-z0-9_-]{43}$`));
    expect(link.url).toBe(created.url);
    const expires = Date.parse(created.expiresAt);
    expect(expires).toBeGreaterThanOrEqual(before + 24 * 3_600_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 24 * 3_600_000 + 1000);
    // Only the hash of the secret is stored.
    const item = await passkeyLinkItem(link.secretHash);
    expect(item).toMatchObject({ kind: 'passkey-link', expiresAt: created.expiresAt });
    expect(JSON.stringify(item)).not.toContain(link.secret);
  });

  it('only the owner may send one (403 for a deployer or an approver, 401 without a token); an unknown person is 404, a malformed id 400, a disabled one 409', async () => {
    const a = await newAccount();
    const path = `/users/${a.approver.user.userId}/passkey-links`;
    expectProblem(await a.deployer.call('POST', path), 403);
    expectProblem(await a.approver.call('POST', path), 403);
    expectProblem(await api('POST', path), 401);
    expectProblem(await a.owner('POST', `/users/usr_${'0'.repeat(32)}/passkey-links`), 404);
    expectProblem(await a.owner('POST', '/users/nobody/passkey-links'), 400);
    expect((await a.owner('PUT', `/users/${a.deployer.user.userId}/status`, { status: 'disabled' })).status).toBe(200);
    expectProblem(await a.owner('POST', `/users/${a.deployer.user.userId}/passkey-links`), 409, /disabled/);
    const audit = ((await a.owner('GET', '/audit?limit=100')).body.items as AuditItem[]).filter((event) => event.action === 'users:passkey-link');
    expect(audit.map((event) => event.outcome)).toEqual(['refused', 'refused', 'refused', 'refused']);
  });

  it('another account’s person is not found', async () => {
    const [a, b] = await Promise.all([newAccount(), newAccount()]);
    expectProblem(await a.owner('POST', `/users/${b.approver.user.userId}/passkey-links`), 404);
    expectProblem(await a.owner('GET', `/users/${b.approver.user.userId}/passkeys`), 404);
  });
});

describe('registering through the link (POST /passkeys/{token}/options, POST /passkeys/{token})', () => {
  it('a software authenticator registers: the answer is its fingerprint, the owner lists the credential, the link is used and a second use is 409', async () => {
    const { a, link } = await linkSent();
    const authenticator = softAuthenticator();
    const { options, registered } = await registerThrough(link.secret, authenticator, { label: 'laptop' });
    expect(options.body).toMatchObject({ rp: { name: 'Latchkey', id: 'localhost' }, attestation: 'none', authenticatorSelection: { userVerification: 'required' } });
    expect(options.body.pubKeyCredParams.map((p: { alg: number }) => p.alg)).toEqual([-8, -7]);
    expect(registered.status, JSON.stringify(registered.body)).toBe(200);
    const credential = authenticator.credential(localWebOrigin());
    expect(registered.body).toEqual({ fingerprint: passkeyFingerprint(credential) });

    const listed = await a.owner('GET', `/users/${a.approver.user.userId}/passkeys`);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([{ ...credential, label: 'laptop', userId: a.approver.user.userId, registeredAt: expect.any(String) }]);
    // Only the owner reads them.
    expectProblem(await a.approver.call('GET', `/users/${a.approver.user.userId}/passkeys`), 403);

    const again = await registerThrough(link.secret, softAuthenticator());
    expectProblem(again.options, 409, /already used/);
    expectProblem(await api('POST', `/passkeys/${link.secret}`, { json: { response: authenticator.register({ challenge: options.body.challenge, ...localWebOrigin() }) } }), 409, /already used/);
    expect((await a.owner('GET', `/users/${a.approver.user.userId}/passkeys`)).body.items).toHaveLength(1);

    const audit = ((await a.owner('GET', '/audit?limit=100')).body.items as AuditItem[]).filter((event) => event.action === 'users:register-passkey');
    expect(audit.map((event) => event.outcome)).toEqual(['succeeded', 'refused']);
    expect(audit[0]).toMatchObject({ actor: { userId: a.approver.user.userId, tokenId: expect.stringMatching(/^passkey-link:/) }, target: { type: 'user', id: a.approver.user.userId } });
  });

  it('a person holds several passkeys, one per link; a later link’s options exclude the ones registered', async () => {
    const { a, link } = await linkSent();
    const laptop = softAuthenticator(-7);
    expect((await registerThrough(link.secret, laptop)).registered.status).toBe(200);
    const sent = await a.owner('POST', `/users/${a.approver.user.userId}/passkey-links`);
    const second = await passkeyLinkFor(a.approver.user.email, sent.body.url);
    const phone = softAuthenticator(-8);
    const { options, registered } = await registerThrough(second.secret, phone, { label: 'phone' });
    expect(options.body.excludeCredentials).toEqual([{ id: laptop.credential(localWebOrigin()).credentialId, type: 'public-key' }]);
    expect(registered.status).toBe(200);
    const items = (await a.owner('GET', `/users/${a.approver.user.userId}/passkeys`)).body.items as { algorithm: number; label?: string }[];
    expect(items.map((item) => [item.algorithm, item.label])).toEqual([[-7, undefined], [-8, 'phone']]);
  });

  it('bad input is a 4xx problem and writes nothing: the link stays open and usable', async () => {
    const { a, link } = await linkSent();
    const before = await passkeyLinkItem(link.secretHash);
    const path = `/passkeys/${link.secret}`;
    expectProblem(await api('POST', path, { json: { response: { id: 'x' } } }), 400);
    expectProblem(await api('POST', path, { json: { response: softAuthenticator().register({ challenge: 'AAAAAAAAAAAAAAAAAAAAAA', ...localWebOrigin() }), extra: 1 } }), 400);
    expectProblem(await api('POST', path, { body: 'label=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415);
    expectProblem(await api('POST', path, { body: '{', headers: { 'content-type': 'application/json' } }), 400);
    // Before any options: nothing to answer.
    expectProblem(await api('POST', path, { json: { response: softAuthenticator().register({ challenge: 'AAAAAAAAAAAAAAAAAAAAAA', ...localWebOrigin() }) } }), 409, /options first/);
    expect(await passkeyLinkItem(link.secretHash)).toEqual(before);

    // A response that does not verify: another origin, no user verification, another challenge.
    for (const tamper of [
      (r: ReturnType<ReturnType<typeof softAuthenticator>['register']>) => ({ ...r, response: { ...r.response, clientDataJSON: Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(r.response.clientDataJSON, 'base64url').toString()), origin: 'https://evil.example' })).toString('base64url') } }),
      (r: ReturnType<ReturnType<typeof softAuthenticator>['register']>) => ({ ...r, response: { ...r.response, clientDataJSON: Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(r.response.clientDataJSON, 'base64url').toString()), challenge: 'AAAAAAAAAAAAAAAAAAAAAA' })).toString('base64url') } }),
    ]) {
      const { registered } = await registerThrough(link.secret, softAuthenticator(), { tamper });
      expectProblem(registered, 400, /does not verify/);
    }
    const asked = await api('POST', `/passkeys/${link.secret}/options`);
    expectProblem(await api('POST', path, { json: { response: softAuthenticator().register({ challenge: asked.body.challenge, ...localWebOrigin(), userVerified: false }) } }), 400, /verif/i);
    expect((await passkeyLinkItem(link.secretHash))?.usedAt).toBeUndefined();
    expect((await a.owner('GET', `/users/${a.approver.user.userId}/passkeys`)).body.items).toEqual([]);

    // Still usable after all that.
    expect((await registerThrough(link.secret, softAuthenticator())).registered.status).toBe(200);
  });

  it('an unknown link is 404, a malformed one 400, an expired one 410 (and stays unused)', async () => {
    expectProblem(await api('POST', `/passkeys/lkp_${'A'.repeat(43)}/options`), 404, /not valid/);
    expectProblem(await api('POST', `/passkeys/lkp_${'A'.repeat(43)}`, { json: { response: softAuthenticator().register({ challenge: 'AAAAAAAAAAAAAAAAAAAAAA', ...localWebOrigin() }) } }), 404);
    expectProblem(await api('POST', '/passkeys/not-a-link/options'), 400);
    expectProblem(await api('POST', `/passkeys/lka_${'A'.repeat(43)}/options`), 400);

    const { link } = await linkSent();
    const asked = await api('POST', `/passkeys/${link.secret}/options`);
    expect(asked.status).toBe(200);
    // The expiry is checked on read: move it into the past, as a day going by would.
    await updatePasskeyLinkItem(link.secretHash, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    expectProblem(await api('POST', `/passkeys/${link.secret}/options`), 410, /expired/);
    expectProblem(await api('POST', `/passkeys/${link.secret}`, { json: { response: softAuthenticator().register({ challenge: asked.body.challenge, ...localWebOrigin() }) } }), 410, /expired/);
    expect((await passkeyLinkItem(link.secretHash))?.usedAt).toBeUndefined();
  });

  it('a link of a person disabled since is not valid (404), and says why in the audit trail', async () => {
    const { a, link } = await linkSent();
    const asked = await api('POST', `/passkeys/${link.secret}/options`);
    expect((await a.owner('PUT', `/users/${a.approver.user.userId}/status`, { status: 'disabled' })).status).toBe(200);
    expectProblem(await api('POST', `/passkeys/${link.secret}`, { json: { response: softAuthenticator().register({ challenge: asked.body.challenge, ...localWebOrigin() }) } }), 404);
    const audit = ((await a.owner('GET', '/audit?limit=100')).body.items as AuditItem[]).filter((event) => event.action === 'users:register-passkey');
    expect(audit).toEqual([expect.objectContaining({ outcome: 'refused', reason: 'The person was disabled: their passkey links no longer work' })]);
  });

  it('two registrations racing on one link: exactly one is recorded', async () => {
    const { a, link } = await linkSent();
    const asked = await api('POST', `/passkeys/${link.secret}/options`);
    const responses = [softAuthenticator(), softAuthenticator()].map((auth) => auth.register({ challenge: asked.body.challenge, ...localWebOrigin() }));
    const results = await Promise.all(responses.map((response) => api('POST', `/passkeys/${link.secret}`, { json: { response, label: randomUUID().slice(0, 8) } })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect((await a.owner('GET', `/users/${a.approver.user.userId}/passkeys`)).body.items).toHaveLength(1);
  });
});


describe('the registration page (GET /passkeys/{token})', () => {
  const page = async (url: string) => {
    const response = await fetch(url, { redirect: 'manual' });
    return { status: response.status, headers: response.headers, html: await response.text() };
  };

  it('open: our script under script-src \'self\' (nothing inline); used, expired and unknown links: no script and the strict page CSP; opening it changes nothing', async () => {
    const { a, link } = await linkSent();
    const before = await passkeyLinkItem(link.secretHash);
    const open = await page(link.url);
    expect(open.status).toBe(200);
    expect(open.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(open.headers.get('content-security-policy')).toBe(SCRIPTED_PAGE_CSP);
    expect(open.headers.get('referrer-policy')).toBe('no-referrer');
    expect(open.headers.get('cache-control')).toBe('no-store');
    expect(open.html).toContain(`Hello ${a.approver.user.name}.`);
    expect([...open.html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual([expect.stringMatching(/^<script type="module" src="\.\.\/assets\/passkey-register\.js" integrity="sha384-[A-Za-z0-9+/=]+">$/)]);
    expect(await passkeyLinkItem(link.secretHash)).toEqual(before);

    // The script it names is served from our origin, as JavaScript.
    const script = await fetch(new URL('../assets/passkey-register.js', link.url));
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);

    expect((await registerThrough(link.secret, softAuthenticator())).registered.status).toBe(200);
    const used = await page(link.url);
    expect(used.status).toBe(200);
    expect(used.html).toContain('This link has already been used');
    expect(used.html).not.toContain('<script');
    expect(used.headers.get('content-security-policy')).toBe(HTML_HEADERS['content-security-policy']);

    const unknown = await page(link.url.replace(/lkp_.*$/, `lkp_${'A'.repeat(43)}`));
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(unknown.html).toContain('This link is not valid');
    const malformed = await page(link.url.replace(/lkp_.*$/, 'nonsense'));
    expect(malformed.status).toBe(404);
    expect(malformed.html).toContain('This link is not valid');

    const { link: late } = await linkSent();
    await updatePasskeyLinkItem(late.secretHash, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    const expired = await page(late.url);
    expect(expired.status).toBe(410);
    expect(expired.html).toContain('This link has expired');
    expect(expired.html).not.toContain('<script');
  });
});
