import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, ownerKeys } from './directory-context.ts';

export const vouchSigningKey: RouteHandler<'PUT /users/{id}/signing-key/vouch'> = ({ actor, params, body }) => ownerKeys.vouchSigningKey(actor, params.id, body);

export const handler = apiHandler('PUT /users/{id}/signing-key/vouch', vouchSigningKey, authenticate);
