import type { z } from 'zod';
import { defaultApprovalPolicy, type ApprovalPolicy, type createEnvironmentInput, type updateEnvironmentInput } from '#shared/protocol/directory.ts';
import type { PageRequest } from '#shared/ports/paging.ts';
import type { Actor } from '../access/actor.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { DirectoryDeps } from './deps.ts';
import { environmentView } from './views.ts';

export const makeEnvironments = ({ directory, act, clock, ids }: DirectoryDeps) => {
  /** A policy must name groups of this account, and enough approvers could ever exist. */
  const checkPolicy = async (accountId: string, approval: ApprovalPolicy) => {
    for (const groupId of approval.approverGroups) {
      if (!(await directory.getGroup(accountId, groupId))) {
        throw new ValidationError(`approval.approverGroups: no such group ${groupId}`, 'approval.approverGroups');
      }
    }
    if (approval.enabled && approval.approverGroups.length === 0 && approval.requiredApprovals > 1) {
      throw new ValidationError('approval.requiredApprovals: only the owner can approve without approver groups', 'approval.requiredApprovals');
    }
  };

  return {
    create: (actor: Actor, input: z.infer<typeof createEnvironmentInput>) =>
      act(actor, 'environments:create', { target: (e) => ({ type: 'environment', id: e.environmentId }) }, async () => {
        // Signed approvals unless the owner opts out (`signed: false`): the default applies to new
        // environments only; update below never fills it in for an item stored without it.
        const approval = { ...defaultApprovalPolicy, ...input.approval };
        await checkPolicy(actor.accountId, approval);
        const now = clock.now().toISOString();
        const environment = {
          accountId: actor.accountId,
          environmentId: ids.next('env'),
          name: input.name,
          approval,
          variables: input.variables ?? {},
          reportScriptOutput: input.reportScriptOutput ?? false,
          createdAt: now,
          updatedAt: now,
          version: 1,
        };
        await directory.putEnvironment(environment);
        return environmentView(environment);
      }),

    list: (actor: Actor, page: PageRequest) =>
      act(actor, 'environments:list', { audited: false }, async () => {
        const result = await directory.listEnvironments(actor.accountId, page);
        return { ...result, items: result.items.map(environmentView) };
      }),

    update: (actor: Actor, environmentId: string, input: z.infer<typeof updateEnvironmentInput>) =>
      act(actor, 'environments:update', { target: { type: 'environment', id: environmentId } }, async () => {
        // 1. Read the current version; merge the policy fields given; variables replace whole.
        // 2. Write only if nobody changed it meanwhile (version check), else 409: read again.
        const current = await directory.getEnvironment(actor.accountId, environmentId);
        if (!current) throw new NotFoundError('No such environment');
        const approval = { ...current.approval, ...input.approval };
        await checkPolicy(actor.accountId, approval);
        const updated = {
          ...current,
          approval,
          variables: input.variables ?? current.variables,
          reportScriptOutput: input.reportScriptOutput ?? current.reportScriptOutput ?? false,
          updatedAt: clock.now().toISOString(),
          version: current.version + 1,
        };
        await directory.updateEnvironment(updated);
        return environmentView(updated);
      }),
  };
};
