import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate } from './directory-context.ts';
import { releases } from './releases-context.ts';

export const listReleases: RouteHandler<'GET /apps/{id}/releases'> = ({ actor, params, query }) => releases.list(actor, params.id, query);

export const handler = apiHandler('GET /apps/{id}/releases', listReleases, authenticate);
