import type { z } from 'zod';
import { intentHash, passkeyChallenge, type ApprovalStatement, type PasskeyApproval } from '#shared/protocol/deployment-evidence.ts';
import type { approvalForm } from '#shared/protocol/deployments.ts';
import type { ApprovalLinkStore } from '#shared/ports/approval-links.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { DeploymentStore } from '#shared/ports/deployment-store.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import { isActive } from '../accounts/model.ts';
import type { Actor } from '../access/actor.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import { ConflictError, DomainError, NotFoundError } from '../errors.ts';
import { hashLinkSecret, looksLikeLinkSecret } from './approval-links.ts';
import { approvalPageModel, linkStatus, namesNeeded, type ActionResult, type ApprovalPageModel, type LinkContext, type LinkStatus } from './approval-page.ts';
import type { Deployments } from './deployments.ts';
import type { SignedDecisions } from './signed-decisions.ts';

export type ApprovalFormInput = z.infer<typeof approvalForm>;

/** WebAuthn request options (PublicKeyCredentialRequestOptionsJSON), as the page's script hands them to the browser. */
export type PasskeyRequestOptions = {
  challenge: string;
  rpId: string;
  allowCredentials: { id: string; type: 'public-key' }[];
  userVerification: 'required';
  timeout: number;
};

type Deps = {
  links: Pick<ApprovalLinkStore, 'get' | 'claim'>;
  deployments: Pick<DeploymentStore, 'get'>;
  directory: Pick<DirectoryStore, 'getUser'>;
  /** The deployment use cases: every state change goes through them and their state machine. */
  decisions: Pick<Deployments, 'approve' | 'decline'>;
  /** The approver's passkeys, as the owner vouched for them in their person statement. */
  signed: Pick<SignedDecisions, 'vouchedPasskeys'>;
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

/** How long the browser waits for the passkey (WebAuthn `timeout`). */
const PASSKEY_TIMEOUT_MS = 120_000;

export const makeApprovalByLink = ({ links, deployments, directory, decisions, signed, audit, clock }: Deps) => {
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
    /**
     * What the approver's passkey is asked to sign for a decision through an open link: the
     * approval statement (this deployment's intent hash, the decision, the message, now) and the
     * WebAuthn options whose challenge commits to it, for the passkeys the owner vouched for.
     * Reads only: the decision is made by the POST that carries the assertion.
     */
    challenge: async (secret: string, form: ApprovalFormInput): Promise<{ approval: ApprovalStatement; options: PasskeyRequestOptions }> => {
      const loaded = await load(secret);
      const status = linkStatus(loaded, clock.now());
      const { link, deployment, approver } = loaded;
      if (status !== 'open' || !link || !deployment || !approver) {
        if (status === 'unknown' || status === 'open') throw new NotFoundError(refusedBecause.unknown.reason);
        throw new ConflictError(refusedBecause[status].reason);
      }
      if (!deployment.intent) throw new ConflictError('This deployment has no signed intent: there is nothing for a passkey to sign');
      const passkeys = await signed.vouchedPasskeys(link.accountId, approver.userId);
      if (!passkeys.length) throw new ConflictError('The account owner has not vouched for a passkey of yours: ask them for a registration link (`latchkey users passkey-link`), or decide with `latchkey approve`');
      const message = form.message?.trim();
      const approval: ApprovalStatement = {
        v: 1,
        accountId: link.accountId,
        deploymentId: link.deploymentId,
        intentHash: intentHash(deployment.intent.intent),
        decision: form.action,
        approverId: approver.userId,
        at: clock.now().toISOString(),
        ...(message ? { message } : {}),
      };
      return {
        approval,
        options: {
          challenge: passkeyChallenge(approval),
          rpId: passkeys[0]!.rpId,
          allowCredentials: passkeys.map((p) => ({ id: p.credentialId, type: 'public-key' as const })),
          userVerification: 'required',
          timeout: PASSKEY_TIMEOUT_MS,
        },
      };
    },

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
    act: async (secret: string, form: ApprovalFormInput, passkey?: PasskeyApproval): Promise<ApprovalPageModel> => {
      const loaded = await load(secret);
      const status = linkStatus(loaded, clock.now());
      const { link, approver, secretHash } = loaded;
      if (status !== 'open' || !link || !approver || !secretHash) return refuse(loaded, status === 'open' ? 'unknown' : status);
      // A click is the backend's word: where approvals must be signed, a click without a passkey cannot decide (and the link stays unused).
      if (loaded.deployment?.policy.signedApprovals && !passkey) {
        const reason = `${loaded.deployment.environmentName} requires signed approvals: decide with your passkey on this page (JavaScript on) or with \`latchkey approve ${link.deploymentId}\``;
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
        const signedWith = passkey ? { passkey } : {};
        if (form.action === 'decline') await decisions.decline(actor, link.deploymentId, { message: form.message, ...signedWith });
        else await decisions.approve(actor, link.deploymentId, { deploy: form.action === 'approve-and-deploy', ...(message ? { comment: message } : {}), ...signedWith });
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
