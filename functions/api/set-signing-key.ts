import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, ownerKeys } from './directory-context.ts';

export const setSigningKey: RouteHandler<'PUT /me/signing-key'> = ({ actor, body }) => ownerKeys.setSigningKey(actor, body.publicKey, body.vouch);

export const handler = apiHandler('PUT /me/signing-key', setSigningKey, authenticate);
