import { browserSupportsWebAuthn, startAuthentication } from '@simplewebauthn/browser';
import { problemOf, statusLine } from '../lib/page-status.ts';

/**
 * The approval page's script, where the environment requires signed approvals: a button asks the
 * API for the approval statement of that decision and the WebAuthn options whose challenge
 * commits to it, has the approver's passkey sign it, and posts the assertion back. The page the
 * POST answers with replaces this one. Nothing here is trusted: key servers and targets verify
 * the assertion themselves (docs/trust.md).
 */

const form = document.querySelector<HTMLFormElement>('form[data-passkey]');
const status = document.querySelector<HTMLElement>('#passkey-status');

const say = statusLine(status);

const decide = async (action: string, message: string) => {
  const here = window.location.pathname;
  const asked = await fetch(`${here}/challenge`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ action, ...(message ? { message } : {}) }),
    credentials: 'omit',
  });
  if (!asked.ok) return say(`Nothing was done: ${await problemOf(asked)}`, 'bad');
  const { approval, options } = (await asked.json()) as { approval: unknown; options: Parameters<typeof startAuthentication>[0]['optionsJSON'] };
  say('Confirm with your passkey (fingerprint, face or security key)…');
  let assertion;
  try {
    assertion = await startAuthentication({ optionsJSON: options });
  } catch (error) {
    return say(`Nothing was done: the passkey did not sign (${(error as Error).message})`, 'bad');
  }
  const posted = await fetch(here, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ action, ...(message ? { message } : {}), passkey: { approval, assertion } }),
    credentials: 'omit',
  });
  const page = new DOMParser().parseFromString(await posted.text(), 'text/html');
  document.title = page.title;
  document.body.replaceWith(document.adoptNode(page.body));
};

if (form) {
  const buttons = [...form.querySelectorAll<HTMLButtonElement>('button[name="action"]')];
  if (!browserSupportsWebAuthn()) {
    say('This browser cannot use passkeys: decide with `latchkey approve` instead.', 'bad');
    for (const button of buttons) button.disabled = true;
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const action = (event.submitter as HTMLButtonElement | null)?.value ?? '';
    const message = form.querySelector<HTMLTextAreaElement>('textarea[name="message"]')?.value.trim() ?? '';
    for (const button of buttons) button.disabled = true;
    decide(action, message)
      .catch((error: unknown) => say(`Nothing was done: ${(error as Error).message}`, 'bad'))
      .finally(() => {
        for (const button of buttons) button.disabled = false;
      });
  });
}
