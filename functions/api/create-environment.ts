import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, environments } from './directory-context.ts';

export const createEnvironment: RouteHandler<'POST /environments'> = ({ actor, body }) => environments.create(actor, body);

export const handler = apiHandler('POST /environments', createEnvironment, authenticate);
