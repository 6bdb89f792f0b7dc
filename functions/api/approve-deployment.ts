import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { deployments } from '../deployments-context.ts';
import { authenticate } from './directory-context.ts';

export const approveDeployment: RouteHandler<'POST /deployments/{id}/approve'> = ({ actor, params, body }) => deployments.approve(actor, params.id, body);

export const handler = apiHandler('POST /deployments/{id}/approve', approveDeployment, authenticate);
