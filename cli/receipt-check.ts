import { receiptProblem, type GrantIssuedReceipt, type ReleaseInstalledReceipt } from '#shared/protocol/receipts.ts';
import { verifyAgentProof } from '#shared/protocol/trust.ts';
import type { ApiClient, ItemOf } from './api-client.ts';
import type { Context } from './context.ts';
import type { DeploymentView } from './deployment-view.ts';
import { CliError } from './errors.ts';
import { trustedOwnerKey } from './keys.ts';
import { printable, type Output } from './output.ts';

type AgentView = Pick<ItemOf<'GET /agents'>, 'agentId' | 'role' | 'proof'>;

/** What `latchkey status` says of one receipt: verified, with what it proves, or why not. */
export type ReceiptVerdict = { agentId: string; verified: true; digest: string; approvals?: 'signed' | 'backend' | 'none' } | { agentId: string; verified: false; problem: string };

export type ReceiptCheck = {
  /** The key server's "grant issued", for a secure deployment that got that far. */
  grant?: ReceiptVerdict;
  /** Each target that the backend says installed the release. */
  targets: ReceiptVerdict[];
  /** Problems that belong to no one receipt (an outcome nobody signed for). */
  problems: string[];
};

/**
 * Checks the receipts a deployment view carries (shared/protocol/receipts.ts) without taking the
 * backend's word for anything: each under the signing key of its agent's owner-signed proof,
 * checked under the owner key this machine trusts; each must be about this deployment, release
 * and environment, and name the release's digest. The backend could otherwise report any
 * install it likes — a "Succeeded" no target signed, or another release than the one shown.
 */
export const checkReceipts = (d: DeploymentView, agents: readonly AgentView[], ownerKey: Uint8Array, accountId: string): ReceiptCheck => {
  const byId = new Map(agents.map((a) => [a.agentId, a]));

  /** The agent's signing key, from its proof; or why its receipts cannot be trusted. */
  const keyOf = (agentId: string, role: 'keyserver' | 'target' | 'either'): { key: Uint8Array } | { problem: string } => {
    const agent = byId.get(agentId);
    if (!agent) return { problem: `agent ${agentId} is not among the enrolled agents, so its receipt cannot be checked` };
    try {
      const proven = verifyAgentProof(ownerKey, agent.proof, { accountId });
      if (proven.agentId !== agentId) return { problem: `the proof listed for ${agentId} is another agent's` };
      if (role !== 'either' && proven.role !== role) return { problem: `agent ${agentId} is not a ${role === 'keyserver' ? 'key server' : 'target'}` };
      if (role !== 'keyserver' && !proven.environments.includes(d.environmentId)) return { problem: `agent ${agentId} is not enrolled by the owner for ${d.environmentName}` };
      return { key: proven.signingKey };
    } catch (error) {
      return { problem: (error as Error).message };
    }
  };

  /** The fields every receipt of this deployment must have, and the digest of the release shown. */
  const aboutThis = (r: GrantIssuedReceipt | ReleaseInstalledReceipt, agentId: string): string | undefined => {
    if (r.accountId !== accountId || r.agentId !== agentId) return 'it was signed for another account or agent';
    if (r.deploymentId !== d.deploymentId) return `it is for another deployment (${r.deploymentId})`;
    if (r.releaseId !== d.releaseId || r.environmentId !== d.environmentId) return 'it is for another release or environment';
    if (r.digest !== d.releaseDigest) return `it names digest ${r.digest}, not the release's ${d.releaseDigest}`;
    return undefined;
  };

  /** The verdict on one receipt, and the receipt once it verified. */
  const check = <R extends GrantIssuedReceipt | ReleaseInstalledReceipt>(
    agentId: string,
    signed: { receipt: R; signature: string } | undefined,
    kind: R['kind'],
    role: 'keyserver' | 'either',
  ): { verdict: ReceiptVerdict; receipt?: R } => {
    const fail = (problem: string) => ({ verdict: { agentId, verified: false as const, problem } });
    if (!signed) return fail(`no receipt: ${kind === 'grant-issued' ? 'the key server' : 'the target'} signed nothing for it`);
    const key = keyOf(agentId, role);
    if ('problem' in key) return fail(key.problem);
    const bad = receiptProblem(key.key, signed, kind);
    if (bad) return fail(`the receipt does not verify: ${bad}`);
    const wrong = aboutThis(signed.receipt, agentId);
    if (wrong) return fail(`the receipt does not match: ${wrong}`);
    return { verdict: { agentId, verified: true, digest: signed.receipt.digest, ...(signed.receipt.approvals ? { approvals: signed.receipt.approvals } : {}) }, receipt: signed.receipt };
  };

  const installed = (d.targets ?? []).filter((t) => t.outcome === 'succeeded');
  const problems: string[] = [];
  if (d.state === 'Succeeded' && installed.length === 0) problems.push('it is shown as Succeeded, but no target reported an install');
  const grant = d.grant ? check(d.grant.agentId, d.grant.receipt, 'grant-issued', 'keyserver') : undefined;
  if (!grant && d.encrypted && installed.length > 0) problems.push('it is encrypted, yet no key server’s grant is shown');

  const targets = installed.map((t): ReceiptVerdict => {
    const { verdict } = check(t.agentId, t.receipt, 'release-installed', 'either');
    // A secure release opens only with a grant: a target the key server did not grant cannot have installed it.
    if (verdict.verified && grant?.receipt && !grant.receipt.targets.includes(t.agentId)) return { agentId: t.agentId, verified: false, problem: 'the key server’s receipt does not grant this target' };
    return verdict;
  });
  return { ...(grant ? { grant: grant.verdict } : {}), targets, problems };
};

/** Every warning `status` prints loudly: nothing in it is backed by an agent's signature. */
export const receiptWarnings = (check: ReceiptCheck): string[] => [
  ...check.problems.map((p) => `WARNING: not verified: ${p}.`),
  ...(check.grant && !check.grant.verified ? [`WARNING: the grant by key server ${check.grant.agentId} is not verified: ${check.grant.problem}.`] : []),
  ...check.targets.flatMap((t) => (t.verified ? [] : [`WARNING: the install on ${t.agentId} is not verified: ${t.problem}.`])),
];

/** Where the agent took the approvals on the backend's word, its receipt says so, and so does `status`. */
const approvalsNote = (verdict: { approvals?: 'signed' | 'backend' | 'none' }) => (verdict.approvals === 'backend' ? '; approvals on the backend’s word' : '');

/** A target's line in `status`: what its receipt proves, or that nothing does. */
export const installSummary = (verdict: ReceiptVerdict | undefined, current: string | undefined): string | undefined => {
  if (!verdict) return undefined;
  const where = current ? ` (current: ${printable(current)})` : '';
  return verdict.verified ? `installed ${verdict.digest} (receipt verified${approvalsNote(verdict)})${where}` : `succeeded${where}  NOT VERIFIED: ${printable(verdict.problem)}`;
};

/** The key server's line in `status`. */
export const grantSummary = (verdict: ReceiptVerdict) =>
  verdict.verified ? `key server ${verdict.agentId} granted ${verdict.digest} (receipt verified${approvalsNote(verdict)})` : `key server ${verdict.agentId}  NOT VERIFIED: ${printable(verdict.problem)}`;

/**
 * The receipts of `d`, checked under the owner key this machine trusts (keys.ts), once there is
 * something to check: a grant, an install, or an outcome. Without an owner key to check against,
 * that is the one problem reported.
 */
export const verifyDeploymentReceipts = async (
  ctx: Context,
  client: ApiClient,
  d: DeploymentView,
  out: Output,
  /** What the check reads, when the caller asked for it already (status asks alongside the deployment: one round trip). */
  asked: ReceiptReads = askReceiptReads(client),
): Promise<ReceiptCheck | undefined> => {
  if (!d.grant && d.state !== 'Succeeded' && !d.targets?.some((t) => t.outcome === 'succeeded')) return undefined;
  const me = await asked.me;
  let ownerKey: Uint8Array;
  try {
    ownerKey = await trustedOwnerKey(ctx, me, out);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    return { targets: [], problems: [`its receipts cannot be checked: ${error.message}`] };
  }
  const { items } = await asked.agents;
  return checkReceipts(d, items, ownerKey, me.accountId);
};

export type ReceiptReads = ReturnType<typeof askReceiptReads>;

/**
 * Starts the two reads a receipt check needs (who this is, with the owner key the API names, and
 * the agents with their statements). A deployment with nothing to check never awaits them, so a
 * failure of theirs is kept until a check does.
 */
export const askReceiptReads = (client: ApiClient) => {
  const me = client.call('GET /me');
  const agents = client.list('GET /agents');
  me.catch(() => {});
  agents.catch(() => {});
  return { me, agents };
};
