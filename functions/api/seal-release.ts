import { masterKeys } from '../agents-context.ts';
import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { act, authenticate } from './directory-context.ts';
import { releases } from './releases-context.ts';

export const sealRelease: RouteHandler<'POST /apps/{id}/releases/{releaseId}/seal'> = ({ actor, params, body }) =>
  act(actor, 'releases:create', { target: { type: 'release', id: params.releaseId } }, async () => {
    await releases.pushedBy(actor, params.id, params.releaseId); // this application's, and the actor's own push (or the actor owns the account)
    await masterKeys.seal(actor.accountId, params.releaseId, body.agentId, body.wrappedReleaseKey);
    return releases.get(actor, params.id, params.releaseId);
  });

export const handler = apiHandler('POST /apps/{id}/releases/{releaseId}/seal', sealRelease, authenticate);
