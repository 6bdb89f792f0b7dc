import { agents } from '../agents-context.ts';
import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate } from './directory-context.ts';

export const removeAgent: RouteHandler<'DELETE /agents/{id}'> = ({ actor, params }) => agents.remove(actor, params.id);

export const handler = apiHandler('DELETE /agents/{id}', removeAgent, authenticate);
