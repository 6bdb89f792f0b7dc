import { access } from 'node:fs/promises';

/**
 * The demo approver's browser, when one is at hand: Debian's chromium, headless, with a virtual
 * authenticator (Chrome DevTools Protocol) standing in for the approver's fingerprint reader. It
 * registers a passkey through the owner's registration link and approves through the emailed
 * link, on the same pages a person would use. Without chromium the demo approves with the CLI.
 */

export const chromiumAtHand = async (): Promise<string | undefined> => {
  const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  return access(path).then(
    () => path,
    () => undefined,
  );
};

export type ApproverBrowser = {
  /** Registers a passkey through a registration link; answers the fingerprint the page shows. */
  register: (url: string, label: string) => Promise<string>;
  /** Opens an approval link and clicks `button`; the passkey signs; answers the page's heading. */
  decide: (url: string, button: 'Approve' | 'Approve and Deploy' | 'Decline') => Promise<string>;
  close: () => Promise<void>;
};

export const approverBrowser = async (executablePath: string): Promise<ApproverBrowser> => {
  // Only when a browser is at hand: playwright-core drives it (a dev dependency, as the demo is).
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  const page = await (await browser.newContext()).newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return {
    register: async (url, label) => {
      await page.goto(url);
      // The button comes alive once the page's script has loaded.
      await page.getByRole('button', { name: 'Register' }).and(page.locator(':enabled')).waitFor({ timeout: 60_000 });
      await page.locator('#label').fill(label);
      await page.getByRole('button', { name: 'Register' }).click();
      await page.locator('#passkey-registered').waitFor({ state: 'visible', timeout: 60_000 });
      return (await page.locator('#fingerprint').innerText()).trim();
    },
    decide: async (url, button) => {
      await page.goto(url);
      await page.getByRole('button', { name: button, exact: true }).click();
      const done = page.getByRole('heading', { name: /^You (approved|declined) this deployment$/ });
      await done.waitFor({ timeout: 60_000 });
      return done.innerText();
    },
    close: () => browser.close(),
  };
};
