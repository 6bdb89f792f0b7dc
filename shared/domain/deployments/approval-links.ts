import { createHash, randomBytes } from 'node:crypto';
import type { ApprovalLinkStore, Mailer } from '#shared/ports/approval-links.ts';
import type { Clock } from '#shared/ports/clock.ts';
import type { DeploymentStore } from '#shared/ports/deployment-store.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { User } from '../accounts/model.ts';
import { approvalEmail, type DeploymentFacts } from './approval-email.ts';
import type { Deployment } from './model.ts';

export const hashLinkSecret = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex');
export const looksLikeLinkSecret = (value: string) => /^lka_[A-Za-z0-9_-]{43}$/.test(value);

/** Who gets an approval email: the eligible approvers and the owner, but never the deployer when self-approval is prevented. */
export const approversToNotify = (deployment: Deployment): string[] =>
  [...new Set([...deployment.eligibleApprovers, deployment.ownerId])].filter(
    (userId) => !(deployment.policy.preventSelfApproval && userId === deployment.deployerId),
  );

type Deps = {
  directory: Pick<DirectoryStore, 'getUser'>;
  deployments: Pick<DeploymentStore, 'get' | 'markNotified'>;
  links: ApprovalLinkStore;
  mailer: Mailer;
  clock: Clock;
  /** Base URL of the API: links are `${publicUrl}/approvals/<secret>`. */
  publicUrl: string;
};

export const makeApprovalNotices = ({ directory, deployments, links, mailer, clock, publicUrl }: Deps) => {
  const factsOf = async (deployment: Deployment): Promise<DeploymentFacts> => {
    const nameOf = async (userId: string) => (await directory.getUser(deployment.accountId, userId))?.name ?? userId;
    return {
      deployment,
      deployerName: await nameOf(deployment.deployerId),
      approvedBy: await Promise.all(deployment.votes.map((vote) => nameOf(vote.userId))),
    };
  };

  return {
    factsOf,

    /**
     * 1. Once per deployment (a retried task finds it done and stops).
     * 2. For each approver: a fresh single-use link bound to them and this deployment,
     *    expiring with the window; only its hash is stored; the secret goes in their email only.
     */
    notify: async (accountId: string, deploymentId: string) => {
      const deployment = await deployments.get(accountId, deploymentId);
      if (!deployment || deployment.notifiedAt || deployment.state !== 'PendingApproval') return { notified: 0 };
      const facts = await factsOf(deployment);
      const approvers = (await Promise.all(approversToNotify(deployment).map((id) => directory.getUser(accountId, id)))).filter(
        (user): user is User => !!user,
      );
      const now = clock.now().toISOString();
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
        await mailer.send({ to: approver.email, ...mail });
      }
      await deployments.markNotified(accountId, deploymentId, now);
      return { notified: approvers.length };
    },
  };
};
