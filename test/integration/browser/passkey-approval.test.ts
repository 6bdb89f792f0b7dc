import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { webOriginOf } from '#shared/protocol/passkeys.ts';
import { approvalLinkFor } from '../../support/approval-mail.ts';
import { journalOf, startKeyServers, startTarget, untilEnded, type Deployment } from '../../support/deploy-agents.ts';
import { push } from '../../support/deploy-release.ts';
import { approvalSetup, waitForState } from '../../support/deployments.ts';
import { passkeyLinkFor } from '../../support/passkey-registration.ts';
import { virtualAuthenticator, vouchPasskeys } from '../../support/passkeys.ts';
import { softAuthenticator } from '../../support/soft-authenticator.ts';
import { cliSession } from '../cli/run-cli.ts';

// The approval page where approvals must be signed: Debian's chromium with JavaScript on and a
// virtual authenticator (Chrome DevTools Protocol) holding the passkey the owner vouched for.
// The page's one script comes from our origin; key servers and targets verify the assertion.
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

/** A page with JavaScript on, recording every request and every console message (a CSP violation shows up there). */
const newPage = async () => {
  const context = await browser.newContext({ viewport: { width: 1000, height: 1100 } });
  onTestFinished(() => context.close());
  const page = await context.newPage();
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => problems.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => problems.push(error.message));
  return { page, requests, problems };
};

const shoot = (page: Page, name: string) => page.screenshot({ path: path.join(artifacts, `passkey-approval-${name}.png`), fullPage: true });
const heading = (page: Page) => page.locator('h1').first().innerText();
// Chromium logs every 4xx page as a failed load: those are the refusals the tests ask for. It also
// warns, at registration, that the options leave out RS256: on purpose (key servers and targets
// verify ES256 and Ed25519). A CSP violation or a script error is still a problem.
const unexpected = (problems: string[]) =>
  problems.filter((problem) => !/Failed to load resource: the server responded with a status of 4\d\d|pubKeyCredParams is missing at least one of the default algorithm identifiers: ES256 and RS256/.test(problem));

const expectOnlyOwnOrigin = (requests: string[], link: string) => {
  const origin = new URL(link).origin;
  expect(requests.length).toBeGreaterThan(1);
  for (const url of requests) expect(new URL(url).origin, url).toBe(origin);
};

const web = () => webOriginOf(inject('endpoints').api);

describe('approving from the email with a passkey', () => {
  it('the approver registers a passkey through the owner’s link, the owner vouches for it by its fingerprint; she clicks Approve and Deploy in the emailed link and touches it: the key server grants on that assertion, the target installs; a second click says used', { timeout: 300_000 }, async () => {
    const cli = await cliSession();
    await cli.signup();
    const approverEmail = `approver-${randomUUID()}@example.com`;
    await cli.json(['users', 'add', '--name', 'Ann Approver', '--email', approverEmail, '--role', 'approver']);
    await cli.json(['groups', 'create', 'approvers']);
    await cli.json(['groups', 'add-member', 'approvers', approverEmail]);
    await cli.json(['envs', 'create', 'prod', '--approval', '--approvers', 'approvers', '--required', '1', '--signed-approvals']);
    const [k1, k2] = await startKeyServers(cli);
    const target = await startTarget(cli, 't1', ['prod']);
    await cli.json(['apps', 'create', 'vault']);
    await cli.json(['apps', 'secure', 'vault']);
    const source = await mkdtemp(path.join(tmpdir(), 'latchkey-passkey-src-'));
    onTestFinished(() => rm(source, { recursive: true, force: true }));
    await writeFile(path.join(source, 'secret.txt'), 'attack at dawn\n');
    await writeFile(path.join(source, 'latchkey.yml'), 'install: echo installed\n');
    await push(cli, 'vault', source, '1.0.0');

    // Ann registers a passkey through the link the owner sends her, reads its fingerprint to the
    // owner (here: off the page), and the owner vouches for exactly that one.
    const { page, requests, problems } = await newPage();
    const authenticator = await virtualAuthenticator(page);
    const sent = await cli.json<{ url: string }>(['users', 'passkey-link', approverEmail]);
    const registration = await passkeyLinkFor(approverEmail, sent.url);
    await page.goto(registration.url);
    await page.getByRole('button', { name: 'Register' }).and(page.locator(':enabled')).waitFor();
    await page.getByLabel('Name this passkey').fill('laptop');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.locator('#passkey-registered').waitFor({ state: 'visible', timeout: 30_000 });
    const fingerprint = await page.locator('#fingerprint').innerText();
    const vouched = await cli.run(['users', 'vouch-passkey', approverEmail, '--fingerprint', fingerprint]);
    expect(vouched.code, vouched.stderr).toBe(0);

    const pending = await cli.json<Deployment>(['deploy', 'vault', '1.0.0', 'prod']);
    expect(pending.state).toBe('PendingApproval');
    const link = await approvalLinkFor(approverEmail);
    expect(new URL(link.url).hostname).toBe('localhost');

    await page.goto(link.url);
    expect(await heading(page)).toBe('A deployment needs your approval');
    expect(await page.locator('body').innerText()).toContain('signed with your passkey');
    await shoot(page, 'open');

    await page.getByRole('button', { name: 'Approve and Deploy' }).click();
    await page.getByRole('heading', { name: 'You approved this deployment' }).waitFor({ timeout: 30_000 });
    await shoot(page, 'approved');

    const ended = await untilEnded(cli, pending.deploymentId, 120_000);
    expect(ended.state, ended.outcome?.reason).toBe('Succeeded');
    // A key server granted (a second may have too, when the first was slow to acknowledge and the
    // request was passed on: each checked the assertion itself); it and the target say in their signed receipts that the approvals
    // they counted were signed (the passkey's assertion), not the backend's word.
    const granted = [k1!, k2!].flatMap((k) => k.process.log.filter((l) => l.msg === 'request answered' && l.type === 'issue-deployment-grant' && l.outcome === 'succeeded'));
    expect(granted.length).toBeGreaterThanOrEqual(1);
    const shown = await cli.json<Deployment & { grant?: unknown; targets?: { receipt?: unknown }[] }>(['status', pending.deploymentId]);
    expect(JSON.stringify(shown.grant)).toContain('"approvals":"signed"');
    expect(JSON.stringify(shown.targets?.[0]?.receipt)).toContain('"approvals":"signed"');
    expect((await cli.run(['status', pending.deploymentId])).stdout).not.toContain('backend’s word');
    expect((await journalOf(target.state)).some((e) => e.type === 'deploy-release')).toBe(true);
    expect((await authenticator.credentials())[0]!.signCount).toBeGreaterThan(0);

    await page.goto(link.url);
    expect(await heading(page)).toBe('This link has already been used');
    expect(await page.locator('form').count()).toBe(0);
    expectOnlyOwnOrigin(requests, link.url);
    expect(unexpected(problems)).toEqual([]);
  });

  it('another approver declines with their passkey and a message: Declined, and the page shows it', async () => {
    const s = await approvalSetup({ signedApprovals: true });
    const soft = softAuthenticator(-8);
    const credential = soft.credential(web());
    await vouchPasskeys({ call: s.a.owner, ownerKey: s.ownerKey }, s.extra[0]!.user.userId, [credential]);
    const created = await s.deploy();
    const link = await approvalLinkFor(s.extra[0]!.user.email);
    const { page, problems } = await newPage();
    await (await virtualAuthenticator(page)).adopt(soft, credential);
    await page.goto(link.url);
    await page.getByLabel('Message').fill('Not during the freeze.');
    await page.getByRole('button', { name: 'Decline' }).click();
    await page.getByRole('heading', { name: 'You declined this deployment' }).waitFor({ timeout: 30_000 });
    const declined = await waitForState(s.a.owner, created.deploymentId, 'Declined');
    expect(declined.declined).toMatchObject({ userId: s.extra[0]!.user.userId, message: 'Not during the freeze.', passkey: { approval: { decision: 'decline', message: 'Not during the freeze.' } } });
    expect(unexpected(problems)).toEqual([]);
  });

  it('an approver without a vouched passkey, or whose authenticator does not verify them, decides nothing; the link stays usable', async () => {
    const s = await approvalSetup({ signedApprovals: true });
    const created = await s.deploy();
    const link = await approvalLinkFor(s.a.approver.user.email);
    const first = await newPage();
    await virtualAuthenticator(first.page);
    await first.page.goto(link.url);
    await first.page.getByRole('button', { name: 'Approve', exact: true }).click();
    await first.page.locator('#passkey-status.bad').waitFor();
    expect(await first.page.locator('#passkey-status').innerText()).toContain('has not vouched for a passkey of yours');

    // Vouched, but the authenticator cannot verify its user: the backend refuses the assertion.
    const soft = softAuthenticator(-7);
    const credential = soft.credential(web());
    await vouchPasskeys({ call: s.a.owner, ownerKey: s.ownerKey }, s.a.approver.user.userId, [credential]);
    const second = await newPage();
    await (await virtualAuthenticator(second.page, { isUserVerified: false })).adopt(soft, credential);
    await second.page.goto(link.url);
    await second.page.getByRole('button', { name: 'Approve', exact: true }).click();
    await second.page.locator('#passkey-status.bad, [role="alert"]').first().waitFor({ timeout: 30_000 });
    expect(await second.page.locator('body').innerText()).toMatch(/Nothing was done/);
    expect((await s.a.owner('GET', `/deployments/${created.deploymentId}`)).body).toMatchObject({ state: 'PendingApproval', votes: [] });
  });
});
