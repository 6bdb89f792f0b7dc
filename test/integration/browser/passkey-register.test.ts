import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { SCRIPTED_PAGE_CSP } from '#functions/http/html.ts';
import { passkeyFingerprint } from '#shared/protocol/passkeys.ts';
import { normaliseFingerprint } from '#shared/protocol/trust.ts';
import { passkeyLinkFor } from '../../support/passkey-registration.ts';
import { personStatementOf, virtualAuthenticator } from '../../support/passkeys.ts';
import { as } from '../../support/accounts.ts';
import { cliSession } from '../cli/run-cli.ts';

// Registering a passkey through the emailed link, as an approver would: Debian's chromium with
// JavaScript on and a virtual authenticator (Chrome DevTools Protocol) that makes the credential.
// The page's one script comes from our origin under `script-src 'self'`; the owner vouches with
// the fingerprint read off the page. Screenshots go to test/artifacts/.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const artifacts = path.resolve(import.meta.dirname, '../../artifacts');

let browser: Browser;

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});

afterAll(async () => {
  await browser?.close();
});

/** A page recording every request and every console message (a CSP violation shows up there). */
const newPage = async (javaScriptEnabled = true) => {
  const context = await browser.newContext({ javaScriptEnabled, viewport: { width: 1000, height: 1000 } });
  onTestFinished(() => context.close());
  const page = await context.newPage();
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => problems.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => problems.push(error.message));
  return { page, requests, problems };
};

const shoot = (page: Page, name: string) => page.screenshot({ path: path.join(artifacts, `passkey-register-${name}.png`), fullPage: true });
const heading = (page: Page) => page.locator('h1:visible').first().innerText();
// Chromium logs every 4xx page as a failed load: those are the refusals the tests ask for. It also
// warns that the options leave out RS256: on purpose, key servers and targets verify only Ed25519
// and ES256 (a CSP violation or a script error is still a problem).
const unexpected = (problems: string[]) =>
  problems.filter((problem) => !/Failed to load resource: the server responded with a status of 4\d\d|pubKeyCredParams is missing at least one of the default algorithm identifiers: ES256 and RS256/.test(problem));

/** The owner's CLI, an approver it added, and a registration link the owner sent them (as mailed). */
const linkSent = async () => {
  const cli = await cliSession();
  await cli.signup();
  const email = `approver-${randomUUID()}@example.com`;
  const approver = await cli.json<{ userId: string }>(['users', 'add', '--name', 'Ann Approver', '--email', email, '--role', 'approver']);
  const sent = await cli.json<{ url: string }>(['users', 'passkey-link', email]);
  const link = await passkeyLinkFor(email, sent.url);
  return { cli, email, approver, link, owner: as((await cli.savedConfig()).token) };
};

describe('registering a passkey from the email', () => {
  it('the approver opens the link, names the passkey and registers it; the page shows its fingerprint, the owner vouches with it, and the statement names the credential', { timeout: 300_000 }, async () => {
    const s = await linkSent();
    // Pages open at localhost: WebAuthn takes no IP address as a relying party.
    expect(new URL(s.link.url).hostname).toBe('localhost');
    const { page, requests, problems } = await newPage();
    const authenticator = await virtualAuthenticator(page);

    const response = await page.goto(s.link.url);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toBe(SCRIPTED_PAGE_CSP);
    expect(await heading(page)).toBe('Register a passkey');
    expect(await page.locator('body').innerText()).toContain('Hello Ann Approver.');
    await page.getByRole('button', { name: 'Register' }).and(page.locator(':enabled')).waitFor();
    await shoot(page, 'open');

    await page.getByLabel('Name this passkey').fill('laptop');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.locator('#passkey-registered').waitFor({ state: 'visible', timeout: 30_000 });
    const shown = await page.locator('#fingerprint').innerText();
    expect(shown).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    expect(await page.locator('#passkey-registered').innerText()).toMatch(/by phone or in person/);
    await shoot(page, 'registered');

    // The credential the virtual authenticator made is the one the backend recorded, by the fingerprint.
    const [made] = await authenticator.credentials();
    const credentialId = Buffer.from(made!.credentialId, 'base64').toString('base64url');
    const registered = (await s.owner('GET', `/users/${s.approver.userId}/passkeys`)).body.items as { credentialId: string; publicKey: string; label: string }[];
    expect(registered).toEqual([expect.objectContaining({ credentialId, label: 'laptop', rpId: 'localhost' })]);
    expect(passkeyFingerprint(registered[0]!)).toBe(normaliseFingerprint(shown));

    // The owner types what the approver read out.
    const vouched = await s.cli.run(['users', 'vouch-passkey', s.email, '--fingerprint', shown]);
    expect(vouched.code, vouched.stderr).toBe(0);
    const statement = await personStatementOf(s.owner, s.approver.userId);
    expect(statement.passkeys).toEqual([expect.objectContaining({ credentialId, publicKey: registered[0]!.publicKey, label: 'laptop', origin: new URL(s.link.url).origin, rpId: 'localhost' })]);
    const rows = await s.cli.json<{ fingerprint: string; vouched: boolean }[]>(['users', 'passkeys', s.email]);
    expect(rows).toEqual([expect.objectContaining({ fingerprint: normaliseFingerprint(shown), vouched: true })]);

    // Opened again: used, no fingerprint, no script.
    await page.goto(s.link.url);
    expect(await heading(page)).toBe('This link has already been used');
    expect(await page.locator('form').count()).toBe(0);
    expect(await page.locator('body').innerText()).not.toContain(shown);
    await shoot(page, 'used');

    const origin = new URL(s.link.url).origin;
    expect(requests.length).toBeGreaterThan(3);
    for (const url of requests) expect(new URL(url).origin, url).toBe(origin);
    expect(requests).toContain(`${origin}/assets/passkey-register.js`);
    expect(unexpected(problems)).toEqual([]);
  });

  it('without JavaScript the page says it needs it, and the Register button does nothing', async () => {
    const s = await linkSent();
    const { page, problems } = await newPage(false);
    await page.goto(s.link.url);
    expect(await page.locator('body').innerText()).toContain('This page needs JavaScript.');
    expect(await page.getByRole('button', { name: 'Register' }).isDisabled()).toBe(true);
    await shoot(page, 'no-javascript');
    expect((await s.owner('GET', `/users/${s.approver.userId}/passkeys`)).body.items).toEqual([]);
    expect(unexpected(problems)).toEqual([]);
  });

  it('an authenticator that cannot verify its user registers nothing: the page says why and the link stays open', async () => {
    const s = await linkSent();
    const { page, problems } = await newPage();
    await virtualAuthenticator(page, { isUserVerified: false });
    await page.goto(s.link.url);
    await page.getByRole('button', { name: 'Register' }).and(page.locator(':enabled')).waitFor();
    await page.getByRole('button', { name: 'Register' }).click();
    await page.locator('#passkey-status.bad').waitFor({ timeout: 30_000 });
    expect(await page.locator('#passkey-status').innerText()).toMatch(/^Nothing was registered/);
    await shoot(page, 'not-verified');
    expect((await s.owner('GET', `/users/${s.approver.userId}/passkeys`)).body.items).toEqual([]);
    await page.goto(s.link.url);
    expect(await heading(page)).toBe('Register a passkey');
    expect(unexpected(problems)).toEqual([]);
  });
});
