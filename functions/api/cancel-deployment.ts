import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { deployments } from '../deployments-context.ts';
import { authenticate } from './directory-context.ts';

export const cancelDeployment: RouteHandler<'POST /deployments/{id}/cancel'> = ({ actor, params }) => deployments.cancel(actor, params.id);

export const handler = apiHandler('POST /deployments/{id}/cancel', cancelDeployment, authenticate);
