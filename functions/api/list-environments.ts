import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, environments } from './directory-context.ts';

export const listEnvironments: RouteHandler<'GET /environments'> = ({ actor, query }) => environments.list(actor, query);

export const handler = apiHandler('GET /environments', listEnvironments, authenticate);
