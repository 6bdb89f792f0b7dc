import { agents } from '../agents-context.ts';
import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate } from './directory-context.ts';

export const listAgents: RouteHandler<'GET /agents'> = ({ actor, query }) => agents.list(actor, query);

export const handler = apiHandler('GET /agents', listAgents, authenticate);
