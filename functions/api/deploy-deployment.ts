import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { deployments } from '../deployments-context.ts';
import { authenticate } from './directory-context.ts';

export const deployDeployment: RouteHandler<'POST /deployments/{id}/deploy'> = ({ actor, params }) => deployments.deploy(actor, params.id);

export const handler = apiHandler('POST /deployments/{id}/deploy', deployDeployment, authenticate);
