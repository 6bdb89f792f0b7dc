import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, tokens } from './directory-context.ts';

export const revokeUserTokens: RouteHandler<'DELETE /users/{id}/tokens'> = ({ actor, params }) => tokens.revokeAll(actor, params.id);

export const handler = apiHandler('DELETE /users/{id}/tokens', revokeUserTokens, authenticate);
