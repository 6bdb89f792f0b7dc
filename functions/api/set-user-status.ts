import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, users } from './directory-context.ts';

export const setUserStatus: RouteHandler<'PUT /users/{id}/status'> = ({ actor, params, body }) => users.setStatus(actor, params.id, body.status);

export const handler = apiHandler('PUT /users/{id}/status', setUserStatus, authenticate);
