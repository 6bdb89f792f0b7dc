import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, apps } from './directory-context.ts';

export const createApp: RouteHandler<'POST /apps'> = ({ actor, body }) => apps.create(actor, body);

export const handler = apiHandler('POST /apps', createApp, authenticate);
