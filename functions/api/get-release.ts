import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate } from './directory-context.ts';
import { releases } from './releases-context.ts';

export const getRelease: RouteHandler<'GET /apps/{id}/releases/{releaseId}'> = ({ actor, params }) => releases.get(actor, params.id, params.releaseId);

export const handler = apiHandler('GET /apps/{id}/releases/{releaseId}', getRelease, authenticate);
