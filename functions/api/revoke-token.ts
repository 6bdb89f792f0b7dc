import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, tokens } from './directory-context.ts';

export const revokeToken: RouteHandler<'DELETE /tokens/{id}'> = ({ actor, params }) => tokens.revoke(actor, params.id);

export const handler = apiHandler('DELETE /tokens/{id}', revokeToken, authenticate);
