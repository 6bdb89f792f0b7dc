import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate } from './directory-context.ts';
import { releases } from './releases-context.ts';

export const completeRelease: RouteHandler<'POST /apps/{id}/releases/{releaseId}/complete'> = ({ actor, params, body }) => releases.complete(actor, params.id, params.releaseId, body);

export const handler = apiHandler('POST /apps/{id}/releases/{releaseId}/complete', completeRelease, authenticate);
