import type { ResponseOf } from './api-client.ts';
import { formatRecord, formatTime, printable, type Column } from './output.ts';
import { grantSummary, installSummary, type ReceiptCheck } from './receipt-check.ts';
import { personLabel, type Person } from './resolve.ts';

export type DeploymentView = ResponseOf<'GET /deployments/{id}'>;
export type DeploymentState = DeploymentView['state'];
type People = ReadonlyMap<string, Person>;

/** States a deployment never leaves; `status --watch` stops at them. */
export const terminalStates: ReadonlySet<DeploymentState> = new Set(['Succeeded', 'Failed', 'Declined', 'Canceled', 'Expired']);
export const isTerminal = (state: DeploymentState) => terminalStates.has(state);

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `1 of 2`, or `-` where the environment needs no approval. */
export const approvalCount = (d: Pick<DeploymentView, 'votes' | 'requiredApprovals'>) =>
  d.requiredApprovals > 0 ? `${d.votes.length} of ${d.requiredApprovals}` : '-';

/** `"text"` with control characters made harmless: comments and messages are other people's input. */
const quoted = (text: string) => `"${printable(text)}"`;

/**
 * What happens next, in one or two sentences, with the command to do it: printed after
 * `deploy`, `approve`, `status` and the others, so nobody has to know the state machine.
 */
export const nextStep = (d: DeploymentView, people: People = new Map(), { justCreated = false } = {}): string => {
  const id = d.deploymentId;
  switch (d.state) {
    case 'PendingApproval': {
      const remaining = Math.max(0, d.requiredApprovals - d.votes.length);
      const waiting = d.votes.length
        ? `Waiting for ${plural(remaining, 'more approval')} (${approvalCount(d)})`
        : `Waiting for ${plural(remaining, 'approval')}`;
      const mailed = justCreated ? '; approvers were emailed' : '';
      const unmailed = d.approvalMail?.failed.length
        ? `\nThe approval mail could not reach ${plural(d.approvalMail.failed.length, 'approver')} (${printable(d.approvalMail.failed[0]!.reason)}): they can approve with the CLI.`
        : '';
      return `${waiting}${mailed}, until ${formatTime(d.expiresAt)}.${unmailed}\nApprove: latchkey approve ${id} [--deploy]   Follow: latchkey status ${id} --watch`;
    }
    case 'Approved':
      return `Approved; nothing is deployed until someone runs: latchkey deploy ${id}\n(or cancel it: latchkey cancel ${id}); the approval lapses at ${formatTime(d.expiresAt)}.`;
    case 'InProgress':
      return `Deploying now. Follow it: latchkey status ${id} --watch`;
    case 'Succeeded':
      return `Deployed ${printable(d.appName)} ${printable(d.releaseVersion)} to ${printable(d.environmentName)}.`;
    case 'Failed':
      return `The deployment failed${d.outcome?.reason ? `: ${printable(d.outcome.reason)}` : ''}.`;
    case 'Declined':
      return d.declined ? `Declined by ${printable(personLabel(people, d.declined.userId))}: ${quoted(d.declined.message)}` : 'Declined.';
    case 'Canceled':
      return d.canceled ? `Canceled by ${printable(personLabel(people, d.canceled.userId))}.` : 'Canceled.';
    case 'Expired':
      return `Expired: no decision was made before ${formatTime(d.expiresAt)}. Start a new deployment to try again.`;
  }
};

type TargetView = NonNullable<DeploymentView['targets']>[number];

/** `succeeded (current: 1.0.0)`, `failed: Install script exited 1`, `pending`. */
const targetSummary = (target: TargetView) => {
  const why = target.message ?? target.code;
  return `${target.outcome}${why ? `: ${printable(why)}` : ''}${target.current ? ` (current: ${printable(target.current)})` : ''}`;
};

/** The last lines of a target's script output, indented under it: enough to see why it failed. */
const OUTPUT_LINES = 5;
const outputTail = (output: string | undefined) =>
  (output ?? '')
    .split('\n')
    .filter((line) => line.trim())
    .slice(-OUTPUT_LINES)
    .map((line) => `      | ${printable(line)}`);

export type TimelineEvent = { key: string; at: string; text: string };

/**
 * The deployment's story, oldest first: every state change (who made it, the decline message,
 * the failure reason) and every vote. Keys are stable across polls, so `status --watch` prints
 * each event once as it appears.
 */
export const timeline = (d: DeploymentView, people: People = new Map()): TimelineEvent[] => {
  const who = (userId: string) => printable(personLabel(people, userId));
  const votes = d.votes.map((vote) => ({
    key: `vote:${vote.userId}`,
    at: vote.at,
    text: `${who(vote.userId)} approved${vote.deploy ? ' (and deploy)' : ''}${vote.comment ? `: ${quoted(vote.comment)}` : ''}`,
  }));
  const changes = d.history.map((change, i) => {
    let text = change.from === null ? `${change.to} (started by ${who(change.by)})` : `${change.to}${change.by === 'system' ? '' : ` (by ${who(change.by)})`}`;
    if (change.to === 'Declined' && d.declined) text += `: ${quoted(d.declined.message)}`;
    if (change.to === 'Failed' && d.outcome?.reason) text += `: ${printable(d.outcome.reason)}`;
    return { key: `state:${i}`, at: change.at, text };
  });
  const reports = (d.targets ?? []).flatMap((target) =>
    target.outcome === 'pending' || !target.at ? [] : [{ key: `target:${target.agentId}`, at: target.at, text: `target ${target.agentId} ${targetSummary(target)}` }],
  );
  // A vote that completes the count lands at the same instant as the change it causes: the vote first.
  // ISO-8601 UTC times sort as plain strings; localeCompare would load ICU's collator at every `status`.
  return [...votes, ...reports, ...changes].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
};

/** `2026-11-23 08:55:51Z`: seconds matter when following a deployment. */
export const formatSeconds = (iso: string) => {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(iso);
  return match ? `${match[1]} ${match[2]}Z` : iso;
};

/**
 * One deployment in full: its facts, the approvals, the decision, the outcome and the history;
 * with `receipts`, what the agents' signed receipts prove of the grant and each install.
 */
export const formatDeployment = (d: DeploymentView, people: People = new Map(), receipts?: ReceiptCheck): string => {
  const facts = formatRecord([
    ['deployment', d.deploymentId],
    ['application', `${d.appName} (${d.appId})`],
    ['release', `${d.releaseVersion} (${d.releaseId})${d.encrypted ? ', encrypted' : ''}`],
    ['digest', d.releaseDigest],
    ['environment', `${d.environmentName} (${d.environmentId})`],
    ['started by', personLabel(people, d.deployerId)],
    ['started', formatSeconds(d.createdAt)],
    ['state', d.state],
    ['approvals', d.requiredApprovals > 0 ? `${approvalCount(d)} required` : 'not needed in this environment'],
    ...(d.state === 'PendingApproval' || d.state === 'Approved' ? [['expires', formatSeconds(d.expiresAt)] as const] : []),
    ...(d.declined ? [['declined by', personLabel(people, d.declined.userId)] as const, ['message', d.declined.message] as const] : []),
    ...(d.canceled ? [['canceled by', personLabel(people, d.canceled.userId)] as const] : []),
    ...(d.outcome ? [['finished', formatSeconds(d.outcome.at)] as const] : []),
    ...(d.outcome?.reason ? [['reason', d.outcome.reason] as const] : []),
    ...(d.approvalMail?.failed.length
      ? [['approval mail', `not sent to ${d.approvalMail.failed.map((f) => `${personLabel(people, f.userId)} (${f.reason})`).join(', ')}`] as const]
      : []),
  ]);
  const votes = d.votes.length
    ? d.votes.map((vote) => `  ${formatSeconds(vote.at)}  ${printable(personLabel(people, vote.userId))}${vote.deploy ? ' (and deploy)' : ''}${vote.comment ? `: ${quoted(vote.comment)}` : ''}`)
    : ['  none yet'];
  const targets = d.targets?.length
    ? [
        '',
        'Targets:',
        ...d.targets.flatMap((t) => {
          const proven = t.outcome === 'succeeded' ? installSummary(receipts?.targets.find((r) => r.agentId === t.agentId), t.current) : undefined;
          return [`  ${t.agentId}  ${proven ?? targetSummary(t)}${t.at ? `  ${formatSeconds(t.at)}` : ''}`, ...(t.outcome === 'failed' ? outputTail(t.output) : [])];
        }),
      ]
    : [];
  const grant = receipts?.grant ? ['', `Grant: ${grantSummary(receipts.grant)}`] : [];
  const history = timeline(d, people).map((event) => `  ${formatSeconds(event.at)}  ${event.text}`);
  return [facts, '', 'Votes:', ...votes, ...grant, ...targets, '', 'History:', ...history, '', nextStep(d, people)].join('\n');
};

export const deploymentColumns = (people: People = new Map()): Column<DeploymentView>[] => [
  { header: 'id', value: (d) => d.deploymentId },
  { header: 'app', value: (d) => d.appName },
  { header: 'release', value: (d) => d.releaseVersion },
  { header: 'environment', value: (d) => d.environmentName },
  { header: 'state', value: (d) => d.state },
  { header: 'approvals', value: (d) => approvalCount(d) },
  { header: 'deployer', value: (d) => people.get(d.deployerId)?.email ?? d.deployerId },
  { header: 'started', value: (d) => formatTime(d.createdAt) },
];
