import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, tokens } from './directory-context.ts';

export const listTokens: RouteHandler<'GET /tokens'> = ({ actor, query }) => tokens.list(actor, query);

export const handler = apiHandler('GET /tokens', listTokens, authenticate);
