import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate } from './directory-context.ts';
import { releases } from './releases-context.ts';

export const createRelease: RouteHandler<'POST /apps/{id}/releases'> = ({ actor, params, body }) => releases.create(actor, params.id, body);

export const handler = apiHandler('POST /apps/{id}/releases', createRelease, authenticate);
