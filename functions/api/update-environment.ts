import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, environments } from './directory-context.ts';

export const updateEnvironment: RouteHandler<'PATCH /environments/{id}'> = ({ actor, params, body }) => environments.update(actor, params.id, body);

export const handler = apiHandler('PATCH /environments/{id}', updateEnvironment, authenticate);
