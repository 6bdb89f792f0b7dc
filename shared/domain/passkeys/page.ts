import type { PasskeyLinkStatus } from './links.ts';

/** What the registration page shows: the link as it is now, and what was registered through it. */
export type PasskeyPageModel =
  | { status: 'unknown' }
  | {
      status: Exclude<PasskeyLinkStatus, 'unknown'>;
      personName: string;
      expiresAt: string;
      /** Once used: the passkey registered through the link, by its fingerprint (hex). */
      registered?: { fingerprint: string; registeredAt: string; label?: string };
    };

/** The HTTP status of the page: 404 for a link that is not valid, 410 expired, else 200 (a used link still shows what it registered). */
export const passkeyPageStatus = (model: PasskeyPageModel): number => (model.status === 'unknown' ? 404 : model.status === 'expired' ? 410 : 200);

/** A script of ours, as the page names it: from our origin, with its integrity hash. */
export type PageScript = { src: string; integrity: string };

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1a1a1a;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:46rem;margin:2rem auto;padding:2rem;background:#fff;border:1px solid #dcdfe4;border-radius:8px}
h1{font-size:1.5rem;margin:0 0 .5rem}
.brand{color:#5e6c84;font-size:.85rem;letter-spacing:.05em;text-transform:uppercase;margin:0 0 1rem}
.banner{padding:.75rem 1rem;border-radius:6px;margin:0 0 1rem;border-left:4px solid}
.banner p{margin:.25rem 0}
.info{background:#eef4ff;border-color:#2f6fed}
.ok{background:#e9f7ef;border-color:#1e8e4f}
.warn{background:#fff6e5;border-color:#d98c00}
.bad{background:#fdecec;border-color:#c9372c}
ol{padding-left:1.25rem}
label{display:block;font-weight:600;margin:1.5rem 0 .25rem}
.hint{font-weight:400;color:#5e6c84}
input{width:100%;padding:.5rem;font:inherit;border:1px solid #b3b9c4;border-radius:4px}
button{font:inherit;font-weight:600;padding:.6rem 1.1rem;border-radius:4px;border:1px solid #1e8e4f;background:#1e8e4f;color:#fff;cursor:pointer;margin-top:1rem}
button:disabled{opacity:.5;cursor:default}
.fingerprint{display:block;font:1.4rem/1.6 ui-monospace,SFMono-Regular,Menlo,monospace;letter-spacing:.05em;margin:.75rem 0;word-spacing:.3em}
footer{margin-top:2rem;color:#5e6c84;font-size:.85rem}
`;

const document = (title: string, body: string, script?: PageScript): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<p class="brand">Latchkey · passkey registration</p>
${body}
<footer>This page runs only Latchkey's own script and loads nothing from elsewhere. Opening it changes nothing.</footer>
</main>
${script ? `<script type="module" src="${escapeHtml(script.src)}" integrity="${escapeHtml(script.integrity)}"></script>\n` : ''}</body>
</html>
`;

const banner = (tone: 'info' | 'ok' | 'warn' | 'bad', title: string, lines: string[], role = 'status') =>
  `<div class="banner ${tone}" role="${role}">\n<h1>${escapeHtml(title)}</h1>\n${lines.map((line) => `<p>${escapeHtml(line)}</p>`).join('\n')}\n</div>`;

/** What the person is told to do with the fingerprint: the whole point of it is the channel. */
export const READ_IT_OUT =
  'Read this fingerprint to the account owner by phone or in person — not by email or chat through Latchkey. They vouch for the passkey only when it matches what they see; until then it approves nothing.';

const openBody = (personName: string, expiresAt: string) => `${banner('info', 'Register a passkey', [
  `Hello ${personName}. The account owner asked you to register a passkey, so that you can approve deployments from the approval emails with it.`,
])}
<noscript><div class="banner bad" role="alert"><p><strong>This page needs JavaScript.</strong> Your browser registers a passkey only when a script asks it to (WebAuthn). Turn JavaScript on for this page, or open the link in another browser.</p></div></noscript>
<p>What happens:</p>
<ol>
<li>You press Register; your browser asks for your fingerprint, face, PIN or security key.</li>
<li>This page shows the new passkey's fingerprint.</li>
<li>You read that fingerprint to the account owner, who vouches for the passkey with the Latchkey CLI.</li>
</ol>
<p>This link is yours alone, registers one passkey, and works until ${escapeHtml(expiresAt)}.</p>
<form data-passkey-register>
<label for="label">Name this passkey <span class="hint">(optional: “laptop”, “phone”, “YubiKey”)</span></label>
<input id="label" name="label" maxlength="64" autocomplete="off">
<button type="submit" disabled>Register</button>
</form>
<div id="passkey-status" class="banner info" role="status" hidden></div>
<section id="passkey-registered" hidden>
${banner('ok', 'Your passkey is registered', ['Its fingerprint:'])}
<code class="fingerprint" id="fingerprint"></code>
<p><strong>${escapeHtml(READ_IT_OUT)}</strong></p>
</section>`;

/** Whether the page runs our script (and so needs the CSP that allows it): only while the link is open. */
export const passkeyPageNeedsScript = (model: PasskeyPageModel) => model.status === 'open';

/** A complete HTML document for the model: every value escaped; the script only while the link is open. */
export const renderPasskeyPage = (model: PasskeyPageModel, script: PageScript): string => {
  switch (model.status) {
    case 'unknown':
      return document('Latchkey · link not valid', banner('bad', 'This link is not valid', ['It may be incomplete or mistyped. Open the link from your email again, or ask the account owner for a new one.']));
    case 'expired':
      return document('Latchkey · link expired', banner('bad', 'This link has expired', [`It worked until ${model.expiresAt}. Ask the account owner for a new one.`]));
    case 'used':
      // No fingerprint here: whoever holds the link would be told to read out a passkey that may not be theirs.
      return document(
        'Latchkey · link used',
        banner('warn', 'This link has already been used', [
          `A passkey${model.registered?.label ? ` (“${model.registered.label}”)` : ''} was registered through it${model.registered ? ` at ${model.registered.registeredAt}` : ''}. Each link registers one passkey.`,
          'If that was not you, tell the account owner at once: they must not vouch for it.',
        ]),
      );
    case 'open':
      return document('Latchkey · register a passkey', openBody(model.personName, model.expiresAt), script);
  }
};

/** The page for an error that is not about the link (a 5xx says nothing internal). */
export const renderPasskeyProblemPage = (title: string): string =>
  document('Latchkey · error', banner('bad', title, ['Open the link from your email again; if it still does not work, ask the account owner for a new one.']));
