import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalLinkFor } from '../../support/approval-mail.ts';
import { waitFor } from '../../support/clients.ts';
import { approvalSetup, waitForState } from '../../support/deployments.ts';

// A real browser on the approval page, as an approver would see it: Debian's chromium, headless,
// with JavaScript off (the page must work without it). Screenshots go to test/artifacts/.
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

/**
 * A fresh page that records every request it makes and every console message (a CSP
 * violation shows up there), so each test can check nothing left the API's origin.
 */
const newPage = async (): Promise<{ page: Page; context: BrowserContext; requests: string[]; problems: string[] }> => {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => problems.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => problems.push(error.message));
  return { page, context, requests, problems };
};

const shoot = (page: Page, name: string) => page.screenshot({ path: path.join(artifacts, `approval-page-${name}.png`), fullPage: true });

const heading = (page: Page) => page.locator('h1').innerText();

// Chromium logs every 4xx page as a failed load: those are the refusals the tests ask for.
const unexpected = (problems: string[]) => problems.filter((problem) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(problem));

const expectOnlyOwnOrigin = (requests: string[], link: string) => {
  const origin = new URL(link).origin;
  expect(requests.length).toBeGreaterThan(0);
  for (const url of requests) expect(new URL(url).origin, url).toBe(origin);
};

describe('the approval page in a browser', () => {
  it('an approver opens the emailed link and clicks Approve and Deploy: the deployment is InProgress; the link then says "already used"', async () => {
    const s = await approvalSetup();
    const created = await s.deploy();
    const link = await approvalLinkFor(s.a.approver.user.email);
    const { page, context, requests, problems } = await newPage();
    try {
      await page.goto(link.url);
      expect(await heading(page)).toBe('A deployment needs your approval');
      expect(await page.locator('form button[name="action"]').allInnerTexts()).toEqual(['Approve', 'Approve and Deploy', 'Decline']);
      await shoot(page, 'open');

      await page.getByRole('button', { name: 'Approve and Deploy' }).click();
      await page.getByRole('heading', { name: 'You approved this deployment' }).waitFor();
      expect(await page.locator('body').innerText()).toContain('It is being deployed now.');
      await shoot(page, 'approved-and-deploying');

      // The deploy step may already have finished it: what counts is that it went InProgress, by this approver.
      const moved = await waitFor('the deployment to reach InProgress', async () => {
        const current = (await s.a.owner('GET', `/deployments/${created.deploymentId}`)).body;
        return current.history.find((t: { to: string }) => t.to === 'InProgress');
      });
      expect(moved.by).toBe(s.a.approver.user.userId);
      await waitForState(s.a.owner, created.deploymentId, 'Succeeded');

      await page.goto(link.url);
      expect(await heading(page)).toBe('This link has already been used');
      expect(await page.locator('form').count()).toBe(0);
      await shoot(page, 'already-used');

      expectOnlyOwnOrigin(requests, link.url);
      expect(unexpected(problems)).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('another approver declines with a message: Declined, the message is shown, and the first approver’s link has moved on', async () => {
    const s = await approvalSetup();
    const created = await s.deploy();
    const [mine, theirs] = await Promise.all([approvalLinkFor(s.extra[0]!.user.email), approvalLinkFor(s.a.approver.user.email)]);
    const { page, context, requests, problems } = await newPage();
    try {
      await page.goto(mine.url);
      // Decline without a message: refused, nothing changes, and the form is back.
      await page.getByRole('button', { name: 'Decline' }).click();
      await page.getByRole('alert').waitFor();
      expect(await page.getByRole('alert').innerText()).toContain('a decline needs a message');
      await shoot(page, 'decline-needs-message');

      await page.getByLabel('Message').fill('Not during the <freeze>: after Monday, please.');
      await page.getByRole('button', { name: 'Decline' }).click();
      await page.getByRole('heading', { name: 'You declined this deployment' }).waitFor();
      expect(await page.locator('blockquote').innerText()).toBe('Not during the <freeze>: after Monday, please.');
      await shoot(page, 'declined');

      const declined = await waitForState(s.a.owner, created.deploymentId, 'Declined');
      expect(declined.declined).toMatchObject({ userId: s.extra[0]!.user.userId, message: 'Not during the <freeze>: after Monday, please.' });

      await page.goto(theirs.url);
      expect(await heading(page)).toBe('This deployment has moved on');
      expect(await page.locator('blockquote').innerText()).toBe('Not during the <freeze>: after Monday, please.');
      expect(await page.locator('form').count()).toBe(0);
      await shoot(page, 'moved-on');

      expectOnlyOwnOrigin(requests, mine.url);
      expect(unexpected(problems)).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('an expired link and a forged one say so', async () => {
    const s = await approvalSetup({ windowHours: 1 / 3600 });
    const created = await s.deploy();
    const link = await approvalLinkFor(s.a.approver.user.email);
    await waitForState(s.a.owner, created.deploymentId, 'Expired');
    const { page, context } = await newPage();
    try {
      await page.goto(link.url);
      expect(await heading(page)).toBe('This link has expired');
      await shoot(page, 'expired');

      const response = await page.goto(link.url.replace(/lka_.*$/, `lka_${'A'.repeat(43)}`));
      expect(response?.status()).toBe(404);
      expect(await heading(page)).toBe('This link is not valid');
      await shoot(page, 'not-valid');
    } finally {
      await context.close();
    }
  });
});
