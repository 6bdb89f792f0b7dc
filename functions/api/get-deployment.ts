import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { deployments } from '../deployments-context.ts';
import { authenticate } from './directory-context.ts';

export const getDeployment: RouteHandler<'GET /deployments/{id}'> = ({ actor, params }) => deployments.get(actor, params.id);

export const handler = apiHandler('GET /deployments/{id}', getDeployment, authenticate);
