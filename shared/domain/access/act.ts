import type { AuditTrail } from '../audit/audit-trail.ts';
import { DomainError } from '../errors.ts';
import type { Actor } from './actor.ts';
import { authorize, type Action } from './policy.ts';

export type Target = { type: string; id: string };

/**
 * Runs one action for an actor: ask the policy, do it, and write the outcome to the audit
 * trail — a refusal (policy, missing resource, wrong state) as much as a success. Bad input
 * never gets here: it is refused at the edge and changes nothing.
 */
export const makeAct =
  (audit: AuditTrail) =>
  async <T>(
    actor: Actor,
    action: Action,
    options: { target?: Target | ((result: T) => Target); ownedByActor?: boolean; audited?: boolean },
    run: () => Promise<T>,
  ): Promise<T> => {
    const who = { userId: actor.userId, tokenId: actor.tokenId };
    const fixedTarget = typeof options.target === 'function' ? undefined : options.target;
    try {
      authorize(actor, action, { ownedByActor: options.ownedByActor ?? false });
      const result = await run();
      if (options.audited !== false) {
        const target = typeof options.target === 'function' ? options.target(result) : options.target;
        await audit.append(actor.accountId, { action, actor: who, ...(target ? { target } : {}), outcome: 'succeeded' });
      }
      return result;
    } catch (error) {
      if (error instanceof DomainError) {
        await audit.append(actor.accountId, {
          action,
          actor: who,
          ...(fixedTarget ? { target: fixedTarget } : {}),
          outcome: 'refused',
          reason: error.message,
        });
      }
      throw error;
    }
  };

export type Act = ReturnType<typeof makeAct>;
