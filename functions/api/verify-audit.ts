import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { act, audit, authenticate } from './directory-context.ts';

export const verifyAudit: RouteHandler<'GET /audit/verify'> = ({ actor }) =>
  act(actor, 'audit:read', { audited: false }, () => audit.verify(actor.accountId));

export const handler = apiHandler('GET /audit/verify', verifyAudit, authenticate);
