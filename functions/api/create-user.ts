import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, users } from './directory-context.ts';

export const createUser: RouteHandler<'POST /users'> = ({ actor, body }) => users.create(actor, body);

export const handler = apiHandler('POST /users', createUser, authenticate);
