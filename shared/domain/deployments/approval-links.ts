import { createHash, randomBytes } from 'node:crypto';
import type { ApprovalLinkStore, Mailer } from '#shared/ports/approval-links.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { DeploymentStore } from '#shared/ports/deployment-store.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import { isActive, type User } from '../accounts/model.ts';
import { approvalEmail, type DeploymentFacts } from './approval-email.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import type { ApprovalMail, Deployment } from './model.ts';

export const hashLinkSecret = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex');
export const looksLikeLinkSecret = (value: string) => /^lka_[A-Za-z0-9_-]{43}$/.test(value);

/** Who gets an approval email: the eligible approvers and the owner, but never the deployer when self-approval is prevented. */
export const approversToNotify = (deployment: Deployment): string[] =>
  [...new Set([...deployment.eligibleApprovers, deployment.ownerId])].filter(
    (userId) => !(deployment.policy.preventSelfApproval && userId === deployment.deployerId),
  );

type Deps = {
  directory: Pick<DirectoryStore, 'getUser'>;
  /** Where a mail that could not be sent is recorded (the account's audit trail). */
  audit: Pick<AuditTrail, 'append'>;
  deployments: Pick<DeploymentStore, 'get' | 'markNotified'>;
  links: ApprovalLinkStore;
  mailer: Mailer;
  clock: Clock;
  /** Base URL of the API: links are `${publicUrl}/approvals/<secret>`. */
  publicUrl: string;
};

export const makeApprovalNotices = ({ directory, audit, deployments, links, mailer, clock, publicUrl }: Deps) => {
  const factsOf = async (deployment: Deployment): Promise<DeploymentFacts> => {
    const nameOf = async (userId: string) => (await directory.getUser(deployment.accountId, userId))?.name ?? userId;
    return {
      deployment,
      deployerName: await nameOf(deployment.deployerId),
      approvedBy: await Promise.all(deployment.votes.map((vote) => nameOf(vote.userId))),
      ...(deployment.releaseSigner ? { signerName: await nameOf(deployment.releaseSigner.userId) } : {}),
    };
  };

  return {
    factsOf,

    /**
     * 1. Once per deployment (a retried task finds it done and stops).
     * 2. For each approver: a fresh single-use link bound to them and this deployment,
     *    expiring with the window; only its hash is stored; the secret goes in their email only.
     * 3. Mail that cannot be sent (a new SES account's sandbox, a sender not verified) does not
     *    stop the deployment: approvers can act through the CLI. Each failure is kept on the
     *    deployment (shown by `latchkey status`) and audited.
     */
    notify: async (accountId: string, deploymentId: string) => {
      const deployment = await deployments.get(accountId, deploymentId);
      if (!deployment || deployment.notifiedAt || deployment.state !== 'PendingApproval') return { notified: 0 };
      const facts = await factsOf(deployment);
      // A disabled or removed person is no approver any more: no link, no mail.
      const approvers = (await Promise.all(approversToNotify(deployment).map((id) => directory.getUser(accountId, id)))).filter(
        (user): user is User => !!user && isActive(user),
      );
      const now = clock.now().toISOString();
      const failed: ApprovalMail['failed'] = [];
      for (const approver of approvers) {
        const secret = `lka_${randomBytes(32).toString('base64url')}`;
        await links.put({
          secretHash: hashLinkSecret(secret),
          accountId,
          deploymentId,
          approverId: approver.userId,
          createdAt: now,
          expiresAt: deployment.expiresAt,
        });
        const mail = approvalEmail(facts, approver.name, `${publicUrl.replace(/\/$/, '')}/approvals/${secret}`);
        try {
          await mailer.send({ to: approver.email, ...mail });
        } catch (error) {
          const err = error as Error;
          failed.push({ userId: approver.userId, reason: `${err.name}: ${err.message}`.slice(0, 500) });
        }
      }
      if (await deployments.markNotified(accountId, deploymentId, { at: now, sent: approvers.length - failed.length, failed })) {
        for (const failure of failed) {
          await audit.append(accountId, {
            action: 'deployments:notify',
            actor: null,
            target: { type: 'deployment', id: deploymentId },
            outcome: 'refused',
            reason: `Approval mail to ${failure.userId} could not be sent (${failure.reason}); they can approve with the CLI`,
          });
        }
      }
      return { notified: approvers.length - failed.length, failed: failed.length };
    },
  };
};
