import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, groups } from './directory-context.ts';

export const addGroupMember: RouteHandler<'PUT /groups/{id}/members/{userId}'> = ({ actor, params }) => groups.addMember(actor, params.id, params.userId);

export const handler = apiHandler('PUT /groups/{id}/members/{userId}', addGroupMember, authenticate);
