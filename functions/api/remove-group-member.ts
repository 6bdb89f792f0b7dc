import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, groups } from './directory-context.ts';

export const removeGroupMember: RouteHandler<'DELETE /groups/{id}/members/{userId}'> = ({ actor, params }) => groups.removeMember(actor, params.id, params.userId);

export const handler = apiHandler('DELETE /groups/{id}/members/{userId}', removeGroupMember, authenticate);
