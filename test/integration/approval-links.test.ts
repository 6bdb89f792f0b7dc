import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyFingerprint } from '#shared/protocol/trust.ts';
import type { Caller } from '../support/accounts.ts';
import { approvalLinkFor, emailsTo, mailTo, openPage, storedLink, submitForm, type Page } from '../support/approval-mail.ts';
import { waitFor } from '../support/clients.ts';
import { approvalSetup, waitForState } from '../support/deployments.ts';

type AuditItem = { action: string; outcome: string; reason?: string; actor: { userId: string; tokenId: string } | null; target?: { type: string; id: string } };

const auditOf = async (owner: Caller, deploymentId: string): Promise<AuditItem[]> =>
  ((await owner('GET', '/audit?limit=100')).body.items as AuditItem[]).filter((event) => event.target?.id === deploymentId);

const expectHtmlPage = (page: Page, status: number) => {
  expect(page.status, page.html.slice(0, 2000)).toBe(status);
  expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(page.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  expect(page.headers.get('cache-control')).toBe('no-store');
  expect(page.headers.get('referrer-policy')).toBe('no-referrer');
  expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  expect(page.html.startsWith('<!doctype html>')).toBe(true);
};

/** A deployment waiting for approval, and the link mailed to each of its two approvers. */
const waitingWithLinks = async (policy: Parameters<typeof approvalSetup>[0] = {}) => {
  const s = await approvalSetup(policy);
  const created = await s.deploy();
  const [first, second] = await Promise.all([approvalLinkFor(s.a.approver.user.email), approvalLinkFor(s.extra[0]!.user.email)]);
  return { ...s, created, first: first!, second: second! };
};

describe('approval links: the emails', () => {
  it('every eligible approver (and the owner) gets exactly one email, text and HTML, with the facts and their own link', async () => {
    const s = await approvalSetup({ extraApprovers: 1 });
    const created = await s.deploy();
    const ownerEmail = (await s.a.owner('GET', '/me')).body.user.email as string;
    const recipients = [s.a.approver.user.email, s.extra[0]!.user.email, ownerEmail];
    const mails = await Promise.all(recipients.map((address) => mailTo(address)));
    // The deployer is in the approver group, but may not approve their own deployment: no email.
    expect(await emailsTo(s.a.deployer.user.email)).toEqual([]);

    const secrets = new Set<string>();
    for (const [i, received] of mails.entries()) {
      expect(received, recipients[i]).toHaveLength(1);
      const { subject, body } = received[0]!;
      expect(subject).toBe(`Approval needed: ${s.app.name} 1.0.0 to ${s.environment.name}`);
      // The release's id, whose vouched key signed it (the owner's, here) and the deployment's id, beside the digest.
      const signedBy = `Olive Owner, key ${keyFingerprint(s.ownerKey.publicKey)}`;
      for (const part of [body.text!, body.html!]) {
        for (const fact of [s.app.name, '1.0.0 (not encrypted)', s.release.releaseId, signedBy, s.environment.name, s.a.deployer.user.name, s.release.digest, created.deploymentId, '0 of 1', created.expiresAt]) {
          expect(part, fact).toContain(fact);
        }
      }
      const link = /(http:\/\/\S+\/approvals\/(lka_[A-Za-z0-9_-]{43}))/.exec(body.text!)!;
      expect(body.html).toContain(`href="${link[1]}"`);
      secrets.add(link[2]!);
      // The link is bound to this approver and this deployment, and expires with the window.
      const stored = await storedLink(link[2]!);
      expect(stored).toMatchObject({ deploymentId: created.deploymentId, expiresAt: created.expiresAt });
      expect(stored?.usedAt).toBeUndefined();
    }
    expect(secrets.size).toBe(3);
  });
});

describe('approval links: the page and the form', () => {
  it('GET shows the facts and the form, and changes nothing however often it is opened', async () => {
    const s = await waitingWithLinks();
    const before = { deployment: (await s.a.owner('GET', `/deployments/${s.created.deploymentId}`)).body, link: await storedLink(s.first.secret), audit: await auditOf(s.a.owner, s.created.deploymentId) };

    for (let i = 0; i < 3; i += 1) {
      const page = await openPage(s.first.url);
      expectHtmlPage(page, 200);
      expect(page.html).toContain('A deployment needs your approval');
      for (const fact of [s.app.name, s.environment.name, s.a.deployer.user.name, s.release.digest, 'PendingApproval', s.a.approver.user.name]) expect(page.html).toContain(fact);
      expect(page.html).toMatch(/<button type="submit" name="action" value="approve-and-deploy"/);
      expect(page.html).not.toMatch(/<script|src=|href=/i);
    }

    expect((await s.a.owner('GET', `/deployments/${s.created.deploymentId}`)).body).toEqual(before.deployment);
    expect(await storedLink(s.first.secret)).toEqual(before.link);
    expect(await auditOf(s.a.owner, s.created.deploymentId)).toEqual(before.audit);
  });

  it('POST approve works once, as that approver; the reused link says "already used"; both are audited', async () => {
    const s = await waitingWithLinks({ requiredApprovals: 2 });
    const approved = await submitForm(s.first.url, { action: 'approve', message: 'Looks good' });
    expectHtmlPage(approved, 200);
    expect(approved.html).toContain('You approved this deployment');
    expect(approved.html).toContain('It still waits for 1 more approval.');
    const after = (await s.a.owner('GET', `/deployments/${s.created.deploymentId}`)).body;
    expect(after.state).toBe('PendingApproval');
    expect(after.votes).toMatchObject([{ userId: s.a.approver.user.userId, deploy: false, comment: 'Looks good' }]);
    expect(await storedLink(s.first.secret)).toMatchObject({ usedFor: 'approve' });

    const again = await submitForm(s.first.url, { action: 'approve-and-deploy', message: '' });
    expectHtmlPage(again, 409);
    expect(again.html).toContain('This link has already been used');
    expect(again.html).not.toContain('<form');
    const reopened = await openPage(s.first.url);
    expectHtmlPage(reopened, 200);
    expect(reopened.html).toContain('This link has already been used');
    expect((await s.a.owner('GET', `/deployments/${s.created.deploymentId}`)).body.votes).toHaveLength(1);

    const deployed = await submitForm(s.second.url, { action: 'approve-and-deploy', message: '' });
    expectHtmlPage(deployed, 200);
    expect(deployed.html).toContain('It is being deployed now.');
    await waitForState(s.a.owner, s.created.deploymentId, 'Succeeded');

    const audit = await auditOf(s.a.owner, s.created.deploymentId);
    const linkEvents = audit.filter((event) => event.actor?.tokenId.startsWith('link:'));
    expect(linkEvents.map((event) => `${event.actor!.userId} ${event.outcome}${event.reason ? `: ${event.reason}` : ''}`)).toEqual([
      `${s.a.approver.user.userId} succeeded`,
      `${s.a.approver.user.userId} refused: The approval link was already used`,
      `${s.extra[0]!.user.userId} succeeded`,
    ]);
    expect(linkEvents.every((event) => event.action === 'deployments:approve')).toBe(true);
    // The link's secret is never written to the audit trail.
    expect(JSON.stringify(audit)).not.toContain(s.first.secret);
  });

  it('POST decline needs a message: without one, a 400 page that keeps the link; with one, Declined, shown on every link', async () => {
    const s = await waitingWithLinks();
    const empty = await submitForm(s.first.url, { action: 'decline', message: '   ' });
    expectHtmlPage(empty, 400);
    expect(empty.html).toContain('a decline needs a message');
    expect(empty.html).toMatch(/<form method="post">/);
    expect((await storedLink(s.first.secret))?.usedAt).toBeUndefined();

    const declined = await submitForm(s.first.url, { action: 'decline', message: 'Freeze until <Monday>' });
    expectHtmlPage(declined, 200);
    expect(declined.html).toContain('You declined this deployment');
    expect(declined.html).toContain('<blockquote>Freeze until &lt;Monday&gt;</blockquote>');
    const seen = (await s.a.deployer.call('GET', `/deployments/${s.created.deploymentId}`)).body;
    expect(seen).toMatchObject({ state: 'Declined', declined: { userId: s.a.approver.user.userId, message: 'Freeze until <Monday>' } });

    // The other approver's link: the deployment has moved on, and says why.
    const movedOn = await openPage(s.second.url);
    expectHtmlPage(movedOn, 200);
    expect(movedOn.html).toContain('This deployment has moved on');
    expect(movedOn.html).toContain('Freeze until &lt;Monday&gt;');
    expect(movedOn.html).not.toContain('<form');
    const refused = await submitForm(s.second.url, { action: 'approve', message: '' });
    expectHtmlPage(refused, 409);
    expect((await s.a.owner('GET', `/deployments/${s.created.deploymentId}`)).body.state).toBe('Declined');
    const audit = await auditOf(s.a.owner, s.created.deploymentId);
    expect(audit.at(-1)).toMatchObject({ outcome: 'refused', reason: 'The deployment is no longer waiting for approval', actor: { userId: s.extra[0]!.user.userId } });
  });

  it('a deployment that moved on (canceled by its deployer) shows so on GET and refuses POST', async () => {
    const s = await waitingWithLinks();
    expect((await s.a.deployer.call('POST', `/deployments/${s.created.deploymentId}/cancel`)).body.state).toBe('Canceled');
    const page = await openPage(s.first.url);
    expectHtmlPage(page, 200);
    expect(page.html).toContain('This deployment has moved on');
    expect(page.html).toContain('It is Canceled.');
    expectHtmlPage(await submitForm(s.first.url, { action: 'approve-and-deploy', message: '' }), 409);
    expect((await s.a.owner('GET', `/deployments/${s.created.deploymentId}`)).body.state).toBe('Canceled');
  });

  it('a decision the state machine refuses is shown and audited (the approver already voted through the API)', async () => {
    const s = await waitingWithLinks({ requiredApprovals: 2 });
    expect((await s.a.approver.call('POST', `/deployments/${s.created.deploymentId}/approve`, {})).status).toBe(200);
    const refused = await submitForm(s.first.url, { action: 'approve', message: '' });
    expectHtmlPage(refused, 409);
    expect(refused.html).toContain('Nothing was done:</strong> You have already approved this deployment');
    const audit = await auditOf(s.a.owner, s.created.deploymentId);
    expect(audit.at(-1)).toMatchObject({ action: 'deployments:approve', outcome: 'refused', reason: 'You have already approved this deployment', actor: { userId: s.a.approver.user.userId } });
    expect(audit.at(-1)!.actor!.tokenId).toMatch(/^link:[0-9a-f]{16}$/);
  });

  it('an expired link says so and refuses, audited', async () => {
    const s = await waitingWithLinks({ windowHours: 1 / 3600 });
    await waitForState(s.a.owner, s.created.deploymentId, 'Expired');
    const page = await openPage(s.first.url);
    expectHtmlPage(page, 200);
    expect(page.html).toContain('This link has expired');
    expect(page.html).not.toContain('<form');
    const refused = await submitForm(s.first.url, { action: 'approve', message: '' });
    expectHtmlPage(refused, 410);
    expect(refused.html).toContain('This link has expired');
    await waitFor('the refusal in the audit trail', async () => {
      const audit = await auditOf(s.a.owner, s.created.deploymentId);
      return audit.find((event) => event.reason === 'The approval link has expired');
    });
    expect((await storedLink(s.first.secret))?.usedAt).toBeUndefined();
  });

  it('forged, malformed and unknown tokens all get the same "not valid" page, GET or POST', async () => {
    const s = await waitingWithLinks();
    const base = s.first.url.replace(/lka_.*$/, '');
    const forged = await openPage(`${base}lka_${randomBytes(32).toString('base64url')}`);
    expectHtmlPage(forged, 404);
    expect(forged.html).toContain('This link is not valid');
    for (const token of [`${s.first.secret.slice(0, -1)}x`, 'lka_short', 'lk_' + 'a'.repeat(43), s.first.secret.toUpperCase()]) {
      const page = await openPage(base + token);
      expectHtmlPage(page, 404);
      expect(page.html).toBe(forged.html);
      const posted = await submitForm(base + token, { action: 'approve', message: '' });
      expectHtmlPage(posted, 404);
      expect(posted.html).toBe(forged.html);
    }
    expect((await s.a.owner('GET', `/deployments/${s.created.deploymentId}`)).body.votes).toEqual([]);
  });

  it('bad input is a 400 HTML page, never a 500, and leaves the link unused', async () => {
    const s = await waitingWithLinks();
    const cases: [string, Record<string, string> | string, string?][] = [
      ['json', JSON.stringify({ action: 'approve' }), 'application/json'],
      ['text', 'action=approve', 'text/plain'],
      ['no action', { message: 'hi' }],
      ['unknown action', { action: 'deploy', message: '' }],
      ['unknown field', { action: 'approve', message: '', admin: 'yes' }],
      ['repeated field', 'action=approve&action=decline&message=x'],
      ['too long', { action: 'approve', message: 'x'.repeat(1001) }],
      ['too large', { action: 'approve', message: 'x'.repeat(20_000) }],
    ];
    for (const [what, body, contentType] of cases) {
      const page = await submitForm(s.first.url, body, contentType);
      expect(page.status, what).toBe(400);
      expectHtmlPage(page, 400);
    }
    expect((await storedLink(s.first.secret))?.usedAt).toBeUndefined();
    expect((await s.a.owner('GET', `/deployments/${s.created.deploymentId}`)).body.state).toBe('PendingApproval');
    // And the link still works.
    expectHtmlPage(await submitForm(s.first.url, { action: 'approve', message: '' }), 200);
  });
});
