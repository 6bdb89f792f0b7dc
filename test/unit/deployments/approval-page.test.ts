import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { User } from '#shared/domain/accounts/model.ts';
import { escapeHtml } from '#shared/domain/deployments/approval-email.ts';
import {
  approvalPageModel,
  linkStatus,
  renderApprovalPage,
  renderProblemPage,
  statusCodeOf,
  type ActionResult,
  type LinkContext,
} from '#shared/domain/deployments/approval-page.ts';
import type { Deployment, DeploymentState } from '#shared/domain/deployments/model.ts';
import { MalformedRequestError } from '#shared/domain/errors.ts';
import { MAX_FORM_BODY_BYTES, parseFormBody } from '#functions/http/html.ts';
import type { ApprovalLink } from '#shared/ports/approval-links.ts';
import { pendingDeployment } from '../../support/deployment-fixture.ts';

const during = new Date('2026-11-24T10:00:00.000Z');
const after = new Date('2026-11-27T10:00:00.000Z');

const approver: User = { accountId: 'acc_1', userId: 'usr_a', name: 'Ann Approver', email: 'ann@example.com', role: 'approver', createdAt: '2026-11-01T00:00:00.000Z' };
const link = (overrides: Partial<ApprovalLink> = {}): ApprovalLink => ({
  secretHash: 'f'.repeat(64),
  accountId: 'acc_1',
  deploymentId: 'dep_1',
  approverId: 'usr_a',
  createdAt: '2026-11-23T10:00:00.000Z',
  expiresAt: '2026-11-26T10:00:00.000Z',
  ...overrides,
});
const context = (deployment: Partial<Deployment> = {}, linkOverrides: Partial<ApprovalLink> = {}): LinkContext => ({
  link: link(linkOverrides),
  deployment: pendingDeployment({}, deployment),
  approver,
});
const names = new Map([['usr_deployer', 'Dee Deployer'], ['usr_a', 'Ann Approver'], ['usr_b', 'Bob Second'], ['usr_pusher', 'Pat Pusher']]);
const page = (ctx: LinkContext, now = during, result?: ActionResult) => renderApprovalPage(approvalPageModel(ctx, names, now, result));

describe('what a link is worth (linkStatus)', () => {
  it('open while the deployment waits and the window is open', () => {
    expect(linkStatus(context(), during)).toBe('open');
  });

  it('used once claimed, even after the window or the deployment moved on', () => {
    const used = { usedAt: '2026-11-24T09:00:00.000Z', usedFor: 'approve' };
    expect(linkStatus(context({}, used), during)).toBe('used');
    expect(linkStatus(context({}, used), after)).toBe('used');
    expect(linkStatus(context({ state: 'Declined' }, used), during)).toBe('used');
  });

  it('expired when the window has passed, written or not', () => {
    expect(linkStatus(context(), after)).toBe('expired');
    expect(linkStatus(context({ state: 'Expired' }), during)).toBe('expired');
    expect(linkStatus(context({}, { expiresAt: '2026-11-24T09:59:59.999Z' }), during)).toBe('expired');
  });

  it('moved-on once the deployment no longer waits for approval', () => {
    for (const state of ['Approved', 'InProgress', 'Succeeded', 'Failed', 'Declined', 'Canceled'] satisfies DeploymentState[]) {
      expect(linkStatus(context({ state }), during), state).toBe('moved-on');
    }
  });

  it('unknown when anything it points to is missing or not its own', () => {
    const whole = context();
    expect(linkStatus({ ...whole, link: undefined }, during)).toBe('unknown');
    expect(linkStatus({ ...whole, deployment: undefined }, during)).toBe('unknown');
    expect(linkStatus({ ...whole, approver: undefined }, during)).toBe('unknown');
    expect(linkStatus(context({ deploymentId: 'dep_other' }), during)).toBe('unknown');
    expect(linkStatus(context({ accountId: 'acc_other' }), during)).toBe('unknown');
    expect(linkStatus({ ...whole, approver: { ...approver, userId: 'usr_b' } }, during)).toBe('unknown');
  });
});

describe('the approval page (renderApprovalPage)', () => {
  it('an open link: the facts, votes so far, and one form with a message box and the three buttons', () => {
    const releaseSigner = { userId: 'usr_pusher', fingerprint: 'c'.repeat(64) };
    const ctx = context({ encrypted: true, releaseSigner, votes: [{ userId: 'usr_b', at: '2026-11-24T08:00:00.000Z', deploy: false, comment: 'fine by me' }] });
    const html = page(ctx);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('A deployment needs your approval');
    // What the approver compares: which release (id), whose key signed it, its digest, which deployment.
    for (const fact of ['web', '1.0.0 (encrypted)', ctx.deployment!.releaseId, `Pat Pusher, key ${'c'.repeat(64)}`, 'prod', 'Dee Deployer', 'a'.repeat(64), ctx.deployment!.deploymentId, '1 of 2: Bob Second', '2026-11-26T10:00:00.000Z', 'PendingApproval']) {
      expect(html).toContain(fact);
    }
    expect(html).toContain('fine by me');
    expect(html.match(/<form\b/g)).toHaveLength(1);
    expect(html).toMatch(/<form method="post">/);
    expect(html).toMatch(/<textarea[^>]*name="message"/);
    const buttons = [...html.matchAll(/<button type="submit" name="action" value="([^"]+)"/g)].map((m) => m[1]);
    expect(buttons).toEqual(['approve', 'approve-and-deploy', 'decline']);
    expect(statusCodeOf(approvalPageModel(context(), names, during))).toBe(200);
  });

  it('no JavaScript and no external assets: nothing to run, nothing loaded from elsewhere', () => {
    for (const html of [page(context()), page(context({ state: 'Declined', declined: { userId: 'usr_b', at: during.toISOString(), message: 'no' } })), page({ ...context(), link: undefined })]) {
      expect(html).not.toMatch(/<script|javascript:|\bon[a-z]+=|<link|<img|<iframe|@import|url\(|src=|href=/i);
      expect(html).not.toMatch(/https?:\/\//);
    }
  });

  it('a used link says "already used", how, and shows no form', () => {
    const html = page(context({}, { usedAt: '2026-11-24T09:00:00.000Z', usedFor: 'approve-and-deploy' }));
    expect(html).toContain('This link has already been used');
    expect(html).toContain('used to approve and deploy at 2026-11-24T09:00:00.000Z');
    expect(html).not.toContain('<form');
  });

  it('an expired link says so, with when the window closed', () => {
    const html = page(context(), after);
    expect(html).toContain('This link has expired');
    expect(html).toContain('2026-11-26T10:00:00.000Z');
    expect(html).not.toContain('<form');
  });

  it('a deployment that moved on says where it is; a declined one shows who declined and the message', () => {
    expect(page(context({ state: 'InProgress' }))).toContain('It is being deployed now.');
    const declined = page(context({ state: 'Declined', declined: { userId: 'usr_b', at: '2026-11-24T09:30:00.000Z', message: 'Freeze until Monday' } }));
    expect(declined).toContain('This deployment has moved on');
    expect(declined).toContain('Declined by Bob Second');
    expect(declined).toContain('<blockquote>Freeze until Monday</blockquote>');
    expect(declined).not.toContain('<form');
  });

  it('an unknown link is "not valid" and shows nothing about any deployment', () => {
    const model = approvalPageModel({ ...context(), link: undefined }, names, during);
    const html = renderApprovalPage(model);
    expect(html).toContain('This link is not valid');
    for (const fact of ['web', 'prod', 'Dee Deployer', 'Ann', 'a'.repeat(64)]) expect(html).not.toContain(fact);
    expect(statusCodeOf(model)).toBe(404);
    // A link to a deployment that is gone renders the very same page.
    expect(renderApprovalPage(approvalPageModel({ ...context(), deployment: undefined }, names, during))).toBe(html);
  });

  it('after a POST: what was done, or why nothing was, with the refusal status', () => {
    const deployed = page(context({ state: 'InProgress' }, { usedAt: during.toISOString(), usedFor: 'approve-and-deploy' }), during, { kind: 'done', action: 'approve-and-deploy' });
    expect(deployed).toContain('You approved this deployment');
    expect(deployed).toContain('It is being deployed now.');
    expect(deployed).not.toContain('already been used');
    const refused = approvalPageModel(context(), names, during, { kind: 'refused', httpStatus: 400, reason: 'message: a decline needs a message', draft: 'half <typed>' });
    const html = renderApprovalPage(refused);
    expect(html).toContain('Nothing was done:</strong> message: a decline needs a message');
    expect(html).toContain('>half &lt;typed&gt;</textarea>');
    expect(statusCodeOf(refused)).toBe(400);
  });

  it('every value is escaped: hostile names, versions, messages and comments stay text', () => {
    const hostile = fc.string({ minLength: 1, maxLength: 40 }).map((s) => `<b x="'&">${s}</b>`);
    fc.assert(
      fc.property(hostile, hostile, hostile, hostile, (appName, person, message, comment) => {
        const ctx: LinkContext = {
          link: link(),
          deployment: pendingDeployment({}, {
            appName,
            releaseVersion: person,
            environmentName: message,
            state: 'Declined',
            votes: [{ userId: 'usr_b', at: during.toISOString(), deploy: true, comment }],
            declined: { userId: 'usr_b', at: during.toISOString(), message },
          }),
          approver: { ...approver, name: person },
        };
        const html = renderApprovalPage(approvalPageModel(ctx, new Map([['usr_b', person], ['usr_deployer', comment]]), during));
        expect(html).not.toContain('<b x=');
        for (const value of [appName, person, message, comment]) expect(html).toContain(escapeHtml(value));
      }),
      { numRuns: 200 },
    );
  });

  it('the error page says only its title', () => {
    const html = renderProblemPage('Internal error');
    expect(html).toContain('Internal error');
    expect(html).not.toContain('<form');
  });
});

describe('the form body of the approval page (functions/http/html.ts)', () => {
  const event = (body: string, contentType = 'application/x-www-form-urlencoded; charset=UTF-8', isBase64Encoded = false) =>
    ({ headers: { 'content-type': contentType }, body, isBase64Encoded }) as unknown as APIGatewayProxyEventV2;

  it('parses urlencoded fields, plain or base64 as API Gateway may send them', () => {
    const body = 'action=decline&message=Not+on+a+Friday+%3Cplease%3E';
    const expected = { action: 'decline', message: 'Not on a Friday <please>' };
    expect(parseFormBody(event(body))).toEqual(expected);
    expect(parseFormBody(event(Buffer.from(body).toString('base64'), 'application/x-www-form-urlencoded', true))).toEqual(expected);
  });

  it('refuses other media, repeated fields and oversized forms as bad input (400)', () => {
    for (const bad of [event('{"action":"approve"}', 'application/json'), event('action=approve&action=decline'), event(`message=${'x'.repeat(MAX_FORM_BODY_BYTES)}`)]) {
      expect(() => parseFormBody(bad)).toThrow(MalformedRequestError);
    }
  });
});
