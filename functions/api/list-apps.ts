import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, apps } from './directory-context.ts';

export const listApps: RouteHandler<'GET /apps'> = ({ actor, query }) => apps.list(actor, query);

export const handler = apiHandler('GET /apps', listApps, authenticate);
