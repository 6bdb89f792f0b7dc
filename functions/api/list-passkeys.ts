import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate } from './directory-context.ts';
import { passkeyLinks } from './passkeys-context.ts';

export const listPasskeys: RouteHandler<'GET /users/{id}/passkeys'> = ({ actor, params }) => passkeyLinks.list(actor, params.id);

export const handler = apiHandler('GET /users/{id}/passkeys', listPasskeys, authenticate);
