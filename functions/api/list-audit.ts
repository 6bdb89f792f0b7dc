import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { act, audit, authenticate } from './directory-context.ts';

export const listAudit: RouteHandler<'GET /audit'> = ({ actor, query }) =>
  act(actor, 'audit:read', { audited: false }, async () => {
    const page = await audit.list(actor.accountId, query);
    // The account id is implied by the token; the rest is the event as hashed.
    return { ...page, items: page.items.map(({ accountId: _account, ...event }) => event) };
  });

export const handler = apiHandler('GET /audit', listAudit, authenticate);
