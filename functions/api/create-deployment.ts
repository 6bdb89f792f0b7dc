import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { deployments } from '../deployments-context.ts';
import { authenticate } from './directory-context.ts';

export const createDeployment: RouteHandler<'POST /deployments'> = ({ actor, body }) => deployments.create(actor, body);

export const handler = apiHandler('POST /deployments', createDeployment, authenticate);
