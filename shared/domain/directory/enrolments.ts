import { createHash, randomBytes } from 'node:crypto';
import type { z } from 'zod';
import type { createEnrolmentInput } from '#shared/protocol/directory.ts';
import type { Actor } from '../access/actor.ts';
import { ValidationError } from '../errors.ts';
import type { DirectoryDeps } from './deps.ts';
import { enrolmentView } from './views.ts';

export const hashEnrolmentSecret = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex');

export const makeEnrolments = ({ directory, act, clock, ids }: DirectoryDeps) => ({
  create: (actor: Actor, input: z.infer<typeof createEnrolmentInput>) =>
    act(actor, 'enrolments:create', { target: (e) => ({ type: 'enrolment', id: e.enrolmentId }) }, async () => {
      // 1. Environments must be this account's; a key server serves none.
      // 2. A fresh secret, single use, expiring; only its hash is stored.
      if (input.role === 'keyserver' && input.environments.length > 0) {
        throw new ValidationError('environments: a key server does not serve environments', 'environments');
      }
      for (const environmentId of input.environments) {
        if (!(await directory.getEnvironment(actor.accountId, environmentId))) {
          throw new ValidationError(`environments: no such environment ${environmentId}`, 'environments');
        }
      }
      const now = clock.now();
      const secret = `lke_${randomBytes(32).toString('base64url')}`;
      const enrolment = {
        accountId: actor.accountId,
        enrolmentId: ids.next('enr'),
        secretHash: hashEnrolmentSecret(secret),
        role: input.role,
        environments: [...new Set(input.environments)],
        createdBy: actor.userId,
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + input.expiresInHours * 3_600_000).toISOString(),
      };
      await directory.putEnrolment(enrolment);
      return { ...enrolmentView(enrolment), token: secret };
    }),
});
