import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate } from './directory-context.ts';
import { passkeyLinks } from './passkeys-context.ts';

export const createPasskeyLink: RouteHandler<'POST /users/{id}/passkey-links'> = ({ actor, params }) => passkeyLinks.create(actor, params.id);

export const handler = apiHandler('POST /users/{id}/passkey-links', createPasskeyLink, authenticate);
