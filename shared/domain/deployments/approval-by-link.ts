import type { z } from 'zod';
import type { approvalForm } from '#shared/protocol/deployments.ts';
import type { ApprovalLinkStore } from '#shared/ports/approval-links.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { DeploymentStore } from '#shared/ports/deployment-store.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import { isActive } from '../accounts/model.ts';
import type { Actor } from '../access/actor.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import { DomainError } from '../errors.ts';
import { hashLinkSecret, looksLikeLinkSecret } from './approval-links.ts';
import { approvalPageModel, linkStatus, namesNeeded, type ActionResult, type ApprovalPageModel, type LinkContext, type LinkStatus } from './approval-page.ts';
import type { Deployments } from './deployments.ts';

export type ApprovalFormInput = z.infer<typeof approvalForm>;

type Deps = {
  links: Pick<ApprovalLinkStore, 'get' | 'claim'>;
  deployments: Pick<DeploymentStore, 'get'>;
  directory: Pick<DirectoryStore, 'getUser'>;
  /** The deployment use cases: every state change goes through them and their state machine. */
  decisions: Pick<Deployments, 'approve' | 'decline'>;
  audit: Pick<AuditTrail, 'append'>;
  clock: Clock;
};

/** The audit action of every link action, as for the same decisions through the API. */
const AUDIT_ACTION = 'deployments:approve';

// Why a link that is not open refuses: written to the audit trail (the page says it in its heading).
const refusedBecause: Record<Exclude<LinkStatus, 'open'>, { reason: string; httpStatus: number }> = {
  used: { reason: 'The approval link was already used', httpStatus: 409 },
  expired: { reason: 'The approval link has expired', httpStatus: 410 },
  'moved-on': { reason: 'The deployment is no longer waiting for approval', httpStatus: 409 },
  unknown: { reason: 'The approval link is not valid', httpStatus: 404 },
};

/** Links never show their secret again: the audit trail names a link by a prefix of its hash. */
export const linkTokenId = (secretHash: string) => `link:${secretHash.slice(0, 16)}`;

export const makeApprovalByLink = ({ links, deployments, directory, decisions, audit, clock }: Deps) => {
  type Loaded = LinkContext & { secretHash?: string };

  const load = async (secret: string): Promise<Loaded> => {
    if (!looksLikeLinkSecret(secret)) return { link: undefined, deployment: undefined, approver: undefined };
    const secretHash = hashLinkSecret(secret);
    const link = await links.get(secretHash);
    if (!link) return { secretHash, link: undefined, deployment: undefined, approver: undefined };
    const [deployment, approver] = await Promise.all([
      deployments.get(link.accountId, link.deploymentId),
      directory.getUser(link.accountId, link.approverId),
    ]);
    return { secretHash, link, deployment, approver };
  };

  const modelOf = async (context: LinkContext, result?: ActionResult): Promise<ApprovalPageModel> => {
    const { deployment } = context;
    const ids = deployment && context.link ? namesNeeded(deployment) : [];
    const users = await Promise.all(ids.map((id) => directory.getUser(deployment!.accountId, id)));
    const names = new Map(users.flatMap((user) => (user ? [[user.userId, user.name] as const] : [])));
    return approvalPageModel(context, names, clock.now(), result);
  };

  const refuse = async (loaded: Loaded, status: Exclude<LinkStatus, 'open'>) => {
    const { httpStatus } = refusedBecause[status];
    // The page says only "not valid"; the audit trail says why, when it is the approver's status.
    const reason = status === 'unknown' && loaded.approver && !isActive(loaded.approver) ? `The approver was ${loaded.approver.status}: their links no longer work` : refusedBecause[status].reason;
    // A link that resolves to nothing has no account to audit in; any other refusal is audited.
    if (loaded.link && loaded.secretHash) {
      await audit.append(loaded.link.accountId, {
        action: AUDIT_ACTION,
        actor: { userId: loaded.link.approverId, tokenId: linkTokenId(loaded.secretHash) },
        target: { type: 'deployment', id: loaded.link.deploymentId },
        outcome: 'refused',
        reason,
      });
    }
    return modelOf(loaded, { kind: 'refused', httpStatus });
  };

  return {
    /** GET: what the link shows now. Reads only — mail scanners open links. */
    view: async (secret: string, refused?: { reason: string; draft?: string }): Promise<ApprovalPageModel> =>
      modelOf(await load(secret), refused ? { kind: 'refused', httpStatus: 400, ...refused } : undefined),

    /**
     * POST: one decision through the link.
     * 1. Resolve the link; unless it is open now, refuse (audited) and change nothing.
     * 2. Claim it for this action: one conditional write, so a link acts at most once, even
     *    when two requests race; the loser is refused as "already used".
     * 3. Act as the approver the link is bound to, as they are in the directory now, through the
     *    deployment use cases (state machine, conditional write, workflow, audit).
     * 4. Show the deployment as it is after that, with what was done or why it was refused.
     */
    act: async (secret: string, form: ApprovalFormInput): Promise<ApprovalPageModel> => {
      const loaded = await load(secret);
      const status = linkStatus(loaded, clock.now());
      const { link, approver, secretHash } = loaded;
      if (status !== 'open' || !link || !approver || !secretHash) return refuse(loaded, status === 'open' ? 'unknown' : status);
      // A click is the backend's word: where approvals must be signed, the link cannot decide (and stays unused).
      if (loaded.deployment?.policy.signedApprovals) {
        const reason = `${loaded.deployment.environmentName} requires signed approvals: decide with \`latchkey approve ${link.deploymentId}\``;
        await audit.append(link.accountId, {
          action: AUDIT_ACTION,
          actor: { userId: link.approverId, tokenId: linkTokenId(secretHash) },
          target: { type: 'deployment', id: link.deploymentId },
          outcome: 'refused',
          reason,
        });
        return modelOf(loaded, { kind: 'refused', httpStatus: 409, reason });
      }

      if (!(await links.claim(secretHash, form.action, clock.now().toISOString()))) return refuse(await load(secret), 'used');

      const actor: Actor = { accountId: link.accountId, userId: approver.userId, role: approver.role, tokenId: linkTokenId(secretHash) };
      const message = form.message?.trim();
      let result: ActionResult = { kind: 'done', action: form.action };
      try {
        if (form.action === 'decline') await decisions.decline(actor, link.deploymentId, { message: form.message });
        else await decisions.approve(actor, link.deploymentId, { deploy: form.action === 'approve-and-deploy', ...(message ? { comment: message } : {}) });
      } catch (error) {
        // The use case has audited the refusal already; the page says why.
        if (!(error instanceof DomainError)) throw error;
        result = { kind: 'refused', httpStatus: error.status, reason: error.message };
      }
      return modelOf(await load(secret), result);
    },
  };
};

export type ApprovalByLink = ReturnType<typeof makeApprovalByLink>;
