import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { deployments } from '../deployments-context.ts';
import { authenticate } from './directory-context.ts';

export const listDeployments: RouteHandler<'GET /deployments'> = ({ actor, query }) => deployments.list(actor, query);

export const handler = apiHandler('GET /deployments', listDeployments, authenticate);
