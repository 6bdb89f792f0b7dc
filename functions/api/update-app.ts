import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, apps } from './directory-context.ts';

export const updateApp: RouteHandler<'PATCH /apps/{id}'> = ({ actor, params }) => apps.makeSecure(actor, params.id);

export const handler = apiHandler('PATCH /apps/{id}', updateApp, authenticate);
