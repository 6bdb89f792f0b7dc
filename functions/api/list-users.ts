import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, users } from './directory-context.ts';

export const listUsers: RouteHandler<'GET /users'> = ({ actor, query }) => users.list(actor, query);

export const handler = apiHandler('GET /users', listUsers, authenticate);
