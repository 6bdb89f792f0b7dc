import { describe, expect, it } from 'vitest';
import { passkeyLinkStatus } from '#shared/domain/passkeys/links.ts';
import { passkeyPageNeedsScript, passkeyPageStatus, renderPasskeyPage, type PasskeyPageModel } from '#shared/domain/passkeys/page.ts';
import type { User } from '#shared/domain/accounts/model.ts';
import type { PasskeyLink } from '#shared/ports/passkey-registrations.ts';

const script = { src: '../assets/passkey-register.js', integrity: 'sha384-abc' };
const person: User = { accountId: 'acc_1', userId: 'usr_1', name: 'Grace <script>alert(1)</script>', email: 'g@example.com', role: 'approver', createdAt: '2026-11-01T00:00:00.000Z' };
const link: PasskeyLink = { secretHash: 'f'.repeat(64), accountId: 'acc_1', userId: 'usr_1', createdBy: 'usr_0', createdAt: '2026-12-01T10:00:00.000Z', expiresAt: '2026-12-02T10:00:00.000Z' };
const open: PasskeyPageModel = { status: 'open', personName: person.name, expiresAt: link.expiresAt };
const fingerprint = 'ab12'.repeat(16);

describe('what a registration link is worth (passkeyLinkStatus)', () => {
  const during = new Date('2026-12-01T12:00:00.000Z');
  it('open until it expires; used beats expired; a person gone, of another account or not active is unknown', () => {
    expect(passkeyLinkStatus(link, person, during)).toBe('open');
    expect(passkeyLinkStatus(link, person, new Date(link.expiresAt))).toBe('expired');
    expect(passkeyLinkStatus({ ...link, usedAt: during.toISOString() }, person, new Date('2027-01-01T00:00:00.000Z'))).toBe('used');
    expect(passkeyLinkStatus(link, undefined, during)).toBe('unknown');
    expect(passkeyLinkStatus(undefined, person, during)).toBe('unknown');
    expect(passkeyLinkStatus(link, { ...person, accountId: 'acc_2' }, during)).toBe('unknown');
    expect(passkeyLinkStatus(link, { ...person, status: 'disabled' }, during)).toBe('unknown');
  });
});

describe('the registration page', () => {
  it('open: says whose passkey and what happens, has a label field and a Register button (enabled only by the script), our script by relative URL with its integrity, and no inline script', () => {
    const html = renderPasskeyPage(open, script);
    expect(html).toContain('Hello Grace &lt;script&gt;alert(1)&lt;/script&gt;.');
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('<input id="label" name="label" maxlength="64"');
    expect(html).toContain('<button type="submit" disabled>Register</button>');
    expect(html).toContain('read that fingerprint to the account owner');
    expect([...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual(['<script type="module" src="../assets/passkey-register.js" integrity="sha384-abc">']);
    expect(html).toMatch(/<script[^>]*><\/script>/);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).toContain('<noscript>');
    expect(html).toContain('This page needs JavaScript.');
    expect(passkeyPageNeedsScript(open)).toBe(true);
    expect(passkeyPageStatus(open)).toBe(200);
  });

  it('used: says so, and shows no fingerprint (whoever holds the link must not be told to read one out), and runs no script', () => {
    const model: PasskeyPageModel = { ...open, status: 'used', registered: { fingerprint, registeredAt: '2026-12-01T11:00:00.000Z', label: 'laptop' } };
    const html = renderPasskeyPage(model, script);
    expect(html).toContain('This link has already been used');
    expect(html).toContain('If that was not you, tell the account owner at once');
    expect(html).not.toContain(fingerprint.slice(0, 8));
    expect(html).not.toContain('<script');
    expect(passkeyPageNeedsScript(model)).toBe(false);
    expect(passkeyPageStatus(model)).toBe(200);
  });

  it('expired (410) and unknown (404) say so, with no form and no script', () => {
    for (const [model, heading, status] of [
      [{ ...open, status: 'expired' }, 'This link has expired', 410],
      [{ status: 'unknown' }, 'This link is not valid', 404],
    ] as const) {
      const html = renderPasskeyPage(model, script);
      expect(html).toContain(`<h1>${heading}</h1>`);
      expect(html).not.toContain('<form');
      expect(html).not.toContain('<script');
      expect(passkeyPageStatus(model)).toBe(status);
    }
  });
});
