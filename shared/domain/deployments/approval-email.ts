import type { Deployment } from './model.ts';

export const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export type DeploymentFacts = {
  deployment: Deployment;
  deployerName: string;
  /** Names of those who approved so far, in order. */
  approvedBy: string[];
  /** The name of the person whose vouched key signed the release (deployment.releaseSigner). */
  signerName?: string;
};

/** The facts every approver sees, in the email and on the page alike. */
export const factRows = ({ deployment, deployerName, approvedBy, signerName }: DeploymentFacts): [string, string][] => [
  ['Application', deployment.appName],
  ['Release', `${deployment.releaseVersion}${deployment.encrypted ? ' (encrypted)' : ' (not encrypted)'}`],
  ['Release id', deployment.releaseId],
  ['Signed by', deployment.releaseSigner ? `${signerName ?? deployment.releaseSigner.userId}, key ${deployment.releaseSigner.fingerprint}` : 'no vouched signer on record'],
  ['Environment', deployment.environmentName],
  ['Deployer', deployerName],
  ['Release digest (SHA-256)', deployment.releaseDigest],
  ['Deployment id', deployment.deploymentId],
  ['Approvals', `${deployment.votes.length} of ${deployment.policy.requiredApprovals}${approvedBy.length ? `: ${approvedBy.join(', ')}` : ''}`],
  ['Decide by', deployment.expiresAt],
];

/** The email to one approver: text and HTML with the same facts and the one link. */
export const approvalEmail = (facts: DeploymentFacts, approverName: string, link: string) => {
  const { deployment } = facts;
  const rows = factRows(facts);
  const subject = `Approval needed: ${deployment.appName} ${deployment.releaseVersion} to ${deployment.environmentName}`;
  const text = [
    `Hello ${approverName},`,
    '',
    `${facts.deployerName} wants to deploy ${deployment.appName} ${deployment.releaseVersion} to ${deployment.environmentName}, and it needs your approval.`,
    '',
    ...rows.map(([label, value]) => `${label}: ${value}`),
    '',
    `Review it and approve, approve and deploy, or decline: ${link}`,
    '',
    'The link is yours alone, works once, and expires with the approval window. Opening it changes nothing; only the buttons on the page do.',
  ].join('\n');
  const html = `<!doctype html><html><body style="font-family: sans-serif; color: #1a1a1a">
<p>Hello ${escapeHtml(approverName)},</p>
<p>${escapeHtml(facts.deployerName)} wants to deploy <strong>${escapeHtml(deployment.appName)} ${escapeHtml(deployment.releaseVersion)}</strong> to <strong>${escapeHtml(deployment.environmentName)}</strong>, and it needs your approval.</p>
<table cellpadding="4">${rows.map(([label, value]) => `<tr><th align="left">${escapeHtml(label)}</th><td><code>${escapeHtml(value)}</code></td></tr>`).join('')}</table>
<p><a href="${escapeHtml(link)}">Review the deployment</a></p>
<p style="color: #555">The link is yours alone, works once, and expires with the approval window. Opening it changes nothing; only the buttons on the page do.</p>
</body></html>`;
  return { subject, text, html };
};
