import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, ownerKeys } from './directory-context.ts';

export const setOwnerKey: RouteHandler<'PUT /account/owner-key'> = ({ actor, body }) => ownerKeys.setOwnerKey(actor, body.publicKey);

export const handler = apiHandler('PUT /account/owner-key', setOwnerKey, authenticate);
