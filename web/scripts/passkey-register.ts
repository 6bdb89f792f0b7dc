import { browserSupportsWebAuthn, startRegistration } from '@simplewebauthn/browser';
import { problemOf, statusLine } from '../lib/page-status.ts';

/**
 * The passkey registration page's script: asks the API for registration options bound to this
 * link, has the browser make a passkey (the person's screen lock or security key: user
 * verification is required), posts the response back, and shows the fingerprint the person reads
 * to the account owner. Nothing here is trusted: the owner compares that fingerprint with what
 * the CLI computes from the registered key before vouching for it (docs/trust.md).
 */

const form = document.querySelector<HTMLFormElement>('form[data-passkey-register]');
const status = document.querySelector<HTMLElement>('#passkey-status');
const registered = document.querySelector<HTMLElement>('#passkey-registered');
const fingerprintOut = document.querySelector<HTMLElement>('#fingerprint');

const say = statusLine(status);

/** As the owner's CLI prints it: groups of four hex digits. */
const grouped = (hex: string) => (hex.match(/.{1,4}/g) ?? []).join(' ');

const register = async (label: string) => {
  // The page is /passkeys/<secret>; its routes are beside it, whatever base path the API has.
  const here = window.location.pathname;
  const asked = await fetch(`${here}/options`, { method: 'POST', credentials: 'omit' });
  if (!asked.ok) return say(`Nothing was registered: ${await problemOf(asked)}`, 'bad');
  const optionsJSON = (await asked.json()) as Parameters<typeof startRegistration>[0]['optionsJSON'];
  say('Confirm with your fingerprint, face, PIN or security key…');
  let response;
  try {
    response = await startRegistration({ optionsJSON });
  } catch (error) {
    return say(`Nothing was registered: your browser did not make a passkey (${(error as Error).message})`, 'bad');
  }
  const posted = await fetch(here, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ response, ...(label ? { label } : {}) }),
    credentials: 'omit',
  });
  if (!posted.ok) return say(`Nothing was registered: ${await problemOf(posted)}`, 'bad');
  const { fingerprint } = (await posted.json()) as { fingerprint: string };
  if (fingerprintOut) fingerprintOut.textContent = grouped(fingerprint);
  if (status) status.hidden = true;
  form?.remove();
  if (registered) registered.hidden = false;
};

if (form) {
  const button = form.querySelector<HTMLButtonElement>('button[type="submit"]');
  if (!browserSupportsWebAuthn()) {
    say('This browser cannot make passkeys. Open the link in a current browser on the device you will approve from.', 'bad');
  } else if (button) {
    button.disabled = false;
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (button) button.disabled = true;
    const label = form.querySelector<HTMLInputElement>('input[name="label"]')?.value.trim() ?? '';
    register(label)
      .catch((error: unknown) => say(`Nothing was registered: ${(error as Error).message}`, 'bad'))
      .finally(() => {
        if (button) button.disabled = false;
      });
  });
}
