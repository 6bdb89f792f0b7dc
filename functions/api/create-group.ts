import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, groups } from './directory-context.ts';

export const createGroup: RouteHandler<'POST /groups'> = ({ actor, body }) => groups.create(actor, body);

export const handler = apiHandler('POST /groups', createGroup, authenticate);
