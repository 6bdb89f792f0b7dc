import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { deployments } from '../deployments-context.ts';
import { authenticate } from './directory-context.ts';

export const declineDeployment: RouteHandler<'POST /deployments/{id}/decline'> = ({ actor, params, body }) => deployments.decline(actor, params.id, body);

export const handler = apiHandler('POST /deployments/{id}/decline', declineDeployment, authenticate);
