import { escapeHtml } from '../deployments/approval-email.ts';

/** The email that carries a registration link to the person it is for: text and HTML, the same words. */
export const passkeyLinkEmail = ({ personName, ownerName, url, expiresAt }: { personName: string; ownerName: string; url: string; expiresAt: string }) => {
  const subject = 'Register a passkey for Latchkey approvals';
  const lines = [
    `${ownerName} asks you to register a passkey (this computer's or phone's screen lock, or a security key), so that you can approve deployments from the approval emails with it.`,
    'The page registers it and then shows its fingerprint. Read that fingerprint to the account owner by phone or in person (not by replying to this email): they vouch for the passkey only once it matches.',
    `The link is yours alone, works once, and expires at ${expiresAt}. Opening it changes nothing; only the Register button does.`,
  ];
  const text = [`Hello ${personName},`, '', lines[0], '', `Register it here: ${url}`, '', lines[1], '', lines[2]].join('\n');
  const html = `<!doctype html><html><body style="font-family: sans-serif; color: #1a1a1a">
<p>Hello ${escapeHtml(personName)},</p>
<p>${escapeHtml(lines[0]!)}</p>
<p><a href="${escapeHtml(url)}">Register a passkey</a></p>
<p>${escapeHtml(lines[1]!)}</p>
<p style="color: #555">${escapeHtml(lines[2]!)}</p>
</body></html>`;
  return { subject, text, html };
};
