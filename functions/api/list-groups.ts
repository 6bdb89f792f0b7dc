import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, groups } from './directory-context.ts';

export const listGroups: RouteHandler<'GET /groups'> = ({ actor, query }) => groups.list(actor, query);

export const handler = apiHandler('GET /groups', listGroups, authenticate);
