import type { ApprovalLink } from '#shared/ports/approval-links.ts';
import { intentHash } from '#shared/protocol/deployment-evidence.ts';
import { isActive, type User } from '../accounts/model.ts';
import { escapeHtml, factRows, type DeploymentFacts } from './approval-email.ts';
import type { Deployment, DeploymentState } from './model.ts';
import { effectiveState } from './transitions.ts';

// The page behind an approval email link, as pure functions: what a link is worth now, and
// the HTML that says so. Where the environment lets a click decide (the owner opted out of
// signed approvals), the page needs no JavaScript: its Content-Security-Policy allows nothing but
// inline styles and a same-origin form. Where approvals must be signed, the decision is signed
// with the approver's passkey by our own script, from our origin (`script-src 'self'`).

/** A script of ours, as the page names it: a path relative to the page, and its integrity hash. */
export type PageScript = { src: string; integrity: string };

export type LinkStatus = 'open' | 'used' | 'expired' | 'moved-on' | 'unknown';

export type FormAction = 'approve' | 'approve-and-deploy' | 'decline';

/** What became of a POST. A refusal's `reason` is left out when the link's status says it all. */
export type ActionResult =
  | { kind: 'done'; action: FormAction }
  | { kind: 'refused'; httpStatus: number; reason?: string; draft?: string };

export type ApprovalPageModel =
  | { status: 'unknown'; result?: ActionResult }
  | {
      status: Exclude<LinkStatus, 'unknown'>;
      approverName: string;
      facts: DeploymentFacts;
      /** As of now: expiry is checked on read. */
      state: DeploymentState;
      link: Pick<ApprovalLink, 'expiresAt' | 'usedAt' | 'usedFor'>;
      votes: { name: string; at: string; deploy: boolean; comment?: string }[];
      declined?: { byName: string; at: string; message: string };
      result?: ActionResult;
    };

export type LinkContext = {
  link: ApprovalLink | undefined;
  deployment: Deployment | undefined;
  /** The directory user the link is bound to. */
  approver: User | undefined;
};

/**
 * What the link is worth now. A link that does not resolve to its own deployment and its own
 * approver, still active (a disabled or removed person's links die with their tokens), is
 * `unknown`, exactly like a forged one: the page never hints at what exists.
 * Used beats expired beats moved-on, so a second click always says "already used".
 */
export const linkStatus = ({ link, deployment, approver }: LinkContext, now: Date): LinkStatus => {
  if (!link || !deployment || !approver) return 'unknown';
  if (deployment.accountId !== link.accountId || deployment.deploymentId !== link.deploymentId) return 'unknown';
  if (approver.accountId !== link.accountId || approver.userId !== link.approverId || !isActive(approver)) return 'unknown';
  if (link.usedAt) return 'used';
  const state = effectiveState(deployment, now);
  if (now.toISOString() >= link.expiresAt || state === 'Expired') return 'expired';
  return state === 'PendingApproval' ? 'open' : 'moved-on';
};

/** The users whose names the page shows: the deployer, the release's signer, each voter and whoever declined. */
export const namesNeeded = (deployment: Deployment): string[] => [
  ...new Set([
    deployment.deployerId,
    ...(deployment.releaseSigner ? [deployment.releaseSigner.userId] : []),
    ...deployment.votes.map((vote) => vote.userId),
    ...(deployment.declined ? [deployment.declined.userId] : []),
  ]),
];

/** The view model; `names` maps user ids to display names (an id without one shows as itself). */
export const approvalPageModel = (context: LinkContext, names: ReadonlyMap<string, string>, now: Date, result?: ActionResult): ApprovalPageModel => {
  const status = linkStatus(context, now);
  const { link, deployment, approver } = context;
  if (status === 'unknown' || !link || !deployment || !approver) return { status: 'unknown', ...(result ? { result } : {}) };
  const nameOf = (userId: string) => names.get(userId) ?? userId;
  return {
    status,
    approverName: approver.name,
    facts: {
      deployment,
      deployerName: nameOf(deployment.deployerId),
      approvedBy: deployment.votes.map((vote) => nameOf(vote.userId)),
      ...(deployment.releaseSigner ? { signerName: nameOf(deployment.releaseSigner.userId) } : {}),
    },
    state: effectiveState(deployment, now),
    link: { expiresAt: link.expiresAt, ...(link.usedAt ? { usedAt: link.usedAt } : {}), ...(link.usedFor ? { usedFor: link.usedFor } : {}) },
    votes: deployment.votes.map((vote) => ({ name: nameOf(vote.userId), at: vote.at, deploy: vote.deploy, ...(vote.comment ? { comment: vote.comment } : {}) })),
    ...(deployment.declined
      ? { declined: { byName: nameOf(deployment.declined.userId), at: deployment.declined.at, message: deployment.declined.message } }
      : {}),
    ...(result ? { result } : {}),
  };
};

/** The HTTP status of the page: a refusal's own, 404 for a link that is not valid, else 200. */
export const statusCodeOf = (model: ApprovalPageModel): number => {
  if (model.result?.kind === 'refused') return model.result.httpStatus;
  return model.status === 'unknown' ? 404 : 200;
};

const actionWords: Record<FormAction, string> = {
  approve: 'approve',
  'approve-and-deploy': 'approve and deploy',
  decline: 'decline',
};

const isFormAction = (value: string | undefined): value is FormAction => !!value && value in actionWords;

const whatNow = (state: DeploymentState, facts: DeploymentFacts): string => {
  const { deployment } = facts;
  switch (state) {
    case 'PendingApproval': {
      const missing = deployment.policy.requiredApprovals - deployment.votes.length;
      return `It still waits for ${missing} more approval${missing === 1 ? '' : 's'}.`;
    }
    case 'Approved':
      return 'It is approved and waits for someone to deploy it.';
    case 'InProgress':
      return 'It is being deployed now.';
    default:
      return `It is ${state}.`;
  }
};

type Heading = { title: string; lines: string[]; tone: 'info' | 'ok' | 'warn' | 'bad' };

const headingOf = (model: Exclude<ApprovalPageModel, { status: 'unknown' }>): Heading => {
  const { result, state, facts } = model;
  if (result?.kind === 'done') {
    const title = result.action === 'decline' ? 'You declined this deployment' : 'You approved this deployment';
    const asked = result.action === 'approve-and-deploy' && state === 'PendingApproval' ? ['It will be deployed as soon as enough approvers agree.'] : [];
    return { title, lines: [whatNow(state, facts), ...asked, 'This link has now been used: it works once.'], tone: result.action === 'decline' ? 'warn' : 'ok' };
  }
  switch (model.status) {
    case 'open':
      return { title: 'A deployment needs your approval', lines: [`${facts.deployerName} wants to deploy it. Opening this page changed nothing: only the buttons below act.`], tone: 'info' };
    case 'used': {
      const how = isFormAction(model.link.usedFor) ? ` to ${actionWords[model.link.usedFor]}` : '';
      const when = model.link.usedAt ? ` at ${model.link.usedAt}` : '';
      return { title: 'This link has already been used', lines: [`It was used${how}${when}. Each approval link works once.`, whatNow(state, facts)], tone: 'warn' };
    }
    case 'expired':
      return { title: 'This link has expired', lines: [`The approval window closed at ${model.link.expiresAt}. Nothing can be decided through this link any more.`], tone: 'bad' };
    case 'moved-on':
      return { title: 'This deployment has moved on', lines: [`It no longer waits for approval. ${whatNow(state, facts)} There is nothing left to decide here.`], tone: 'warn' };
  }
};

const STYLE = `
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1a1a1a;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:46rem;margin:2rem auto;padding:2rem;background:#fff;border:1px solid #dcdfe4;border-radius:8px}
h1{font-size:1.5rem;margin:0 0 .5rem}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.brand{color:#5e6c84;font-size:.85rem;letter-spacing:.05em;text-transform:uppercase;margin:0 0 1rem}
.banner{padding:.75rem 1rem;border-radius:6px;margin:0 0 1rem;border-left:4px solid}
.banner p{margin:.25rem 0}
.info{background:#eef4ff;border-color:#2f6fed}
.ok{background:#e9f7ef;border-color:#1e8e4f}
.warn{background:#fff6e5;border-color:#d98c00}
.bad{background:#fdecec;border-color:#c9372c}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-bottom:1px solid #eceef1}
th{width:13rem;font-weight:600;color:#44546f}
td code{font:.9rem/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
ol{padding-left:1.25rem}
blockquote{margin:.5rem 0;padding:.5rem 1rem;background:#fafbfc;border-left:4px solid #c9372c;white-space:pre-wrap}
label{display:block;font-weight:600;margin:1.5rem 0 .25rem}
.hint{font-weight:400;color:#5e6c84}
textarea{width:100%;padding:.5rem;font:inherit;border:1px solid #b3b9c4;border-radius:4px}
.buttons{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:1rem}
button{font:inherit;font-weight:600;padding:.6rem 1.1rem;border-radius:4px;border:1px solid #b3b9c4;background:#fff;cursor:pointer}
button.primary{background:#1e8e4f;border-color:#1e8e4f;color:#fff}
button.danger{background:#fff;border-color:#c9372c;color:#c9372c}
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
<p class="brand">Latchkey · deployment approval</p>
${body}
<footer>${script ? 'This page runs one script of ours, from this site, to have your passkey sign your decision; it loads nothing from elsewhere.' : 'This page uses no scripts and loads nothing from elsewhere.'} Opening it never changes a deployment.</footer>
</main>
${script ? `<script type="module" src="${escapeHtml(script.src)}" integrity="${escapeHtml(script.integrity)}"></script>\n` : ''}</body>
</html>
`;

const paragraphs = (lines: string[]) => lines.map((line) => `<p>${escapeHtml(line)}</p>`).join('\n');

const banner = (heading: Heading) => `<div class="banner ${heading.tone}" role="status">
<h1>${escapeHtml(heading.title)}</h1>
${paragraphs(heading.lines)}
</div>`;

const refusal = (result: ActionResult | undefined) =>
  result?.kind === 'refused'
    ? `<div class="banner bad" role="alert"><p><strong>Nothing was done${result.reason ? ':' : '.'}</strong>${result.reason ? ` ${escapeHtml(result.reason)}` : ''}</p></div>\n`
    : '';

const factsTable = (model: Exclude<ApprovalPageModel, { status: 'unknown' }>) => {
  const { intent } = model.facts.deployment;
  const rows: [string, string][] = [...factRows(model.facts), ...(intent ? [['Intent hash (what approvals sign)', intentHash(intent.intent)] as [string, string]] : []), ['State', model.state]];
  return `<table>\n${rows.map(([label, value]) => `<tr><th scope="row">${escapeHtml(label)}</th><td><code>${escapeHtml(value)}</code></td></tr>`).join('\n')}\n</table>`;
};

const votesList = (model: Exclude<ApprovalPageModel, { status: 'unknown' }>) => {
  if (model.votes.length === 0) return '<h2>Votes so far</h2>\n<p>No approvals yet.</p>';
  const items = model.votes.map((vote) => {
    const what = vote.deploy ? 'approved and asked to deploy' : 'approved';
    const comment = vote.comment ? `: “${escapeHtml(vote.comment)}”` : '';
    return `<li><strong>${escapeHtml(vote.name)}</strong> ${what} at ${escapeHtml(vote.at)}${comment}</li>`;
  });
  return `<h2>Votes so far</h2>\n<ol class="votes">\n${items.join('\n')}\n</ol>`;
};

const declinedBlock = (model: Exclude<ApprovalPageModel, { status: 'unknown' }>) =>
  model.declined
    ? `<section class="declined"><h2>Declined by ${escapeHtml(model.declined.byName)} at ${escapeHtml(model.declined.at)}</h2>\n<blockquote>${escapeHtml(model.declined.message)}</blockquote></section>`
    : '';

const form = (draft: string | undefined, passkey: boolean) => `<form method="post"${passkey ? ' data-passkey="required"' : ''}>
${passkey ? '<p>Your decision is signed with your passkey (fingerprint, face or security key): it signs this deployment’s intent hash and your decision, and key servers and targets check that signature themselves.</p>\n' : ''}<label for="message">Message <span class="hint">(required to decline; an optional comment when approving)</span></label>
<textarea id="message" name="message" rows="4" maxlength="1000">${escapeHtml(draft ?? '')}</textarea>
<div class="buttons">
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="approve-and-deploy" class="primary">Approve and Deploy</button>
<button type="submit" name="action" value="decline" class="danger">Decline</button>
</div>
</form>${
  passkey
    ? `
<div id="passkey-status" class="banner info" role="status" hidden></div>
<noscript><div class="banner warn"><p>Deciding here needs JavaScript, for your passkey to sign. Without it, decide with <code>latchkey approve</code> or <code>latchkey decline</code>.</p></div></noscript>`
    : ''
}`;

/** Whether approvals of this deployment must be signed (the environment's setting when it started). */
const signedApprovals = (model: Exclude<ApprovalPageModel, { status: 'unknown' }>) => model.facts.deployment.policy.signedApprovals === true;

/** Whether the page runs our passkey script: only while a signed decision can still be made on it. */
export const pageNeedsScript = (model: ApprovalPageModel): boolean =>
  model.status === 'open' && model.result?.kind !== 'done' && signedApprovals(model);

// Shown on every page of an environment whose owner opted out of signed approvals.
const unsignedNotice = `<div class="banner warn" role="note"><p><strong>Approvals in this environment are not signed.</strong> Its owner opted out (<code>latchkey envs update --unsigned-approvals</code>): a click here is the backend’s word, and key servers and targets accept it as that.</p></div>`;

/** A complete HTML document for the model: every value escaped, the form only while the link is open. */
export const renderApprovalPage = (model: ApprovalPageModel, script?: PageScript): string => {
  if (model.status === 'unknown') {
    return document(
      'Latchkey · link not valid',
      `${banner({
        title: 'This link is not valid',
        lines: ['It may be incomplete or mistyped. Open the link from your email again; if it still does not work, ask the person who started the deployment.'],
        tone: 'bad',
      })}`,
    );
  }
  const { deployment } = model.facts;
  const open = model.status === 'open' && model.result?.kind !== 'done';
  const draft = model.result?.kind === 'refused' ? model.result.draft : undefined;
  const passkey = signedApprovals(model);
  const body = [
    refusal(model.result) + banner(headingOf(model)),
    passkey ? '' : unsignedNotice,
    `<p>Hello ${escapeHtml(model.approverName)}.</p>`,
    factsTable(model),
    votesList(model),
    declinedBlock(model),
    open ? form(draft, passkey) : '',
  ].filter(Boolean);
  const title = `Latchkey · ${deployment.appName} ${deployment.releaseVersion} to ${deployment.environmentName}`;
  return document(title, body.join('\n'), pageNeedsScript(model) ? script : undefined);
};

/** The page for an error that is not about the link (a 5xx says nothing internal). */
export const renderProblemPage = (title: string): string =>
  document('Latchkey · error', banner({ title, lines: ['Open the link from your email again to see where the deployment stands.'], tone: 'bad' }));
