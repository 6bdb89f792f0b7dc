import { agents } from '../agents-context.ts';
import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate } from './directory-context.ts';

export const getMasterKey: RouteHandler<'GET /master-key'> = ({ actor }) => agents.masterKey(actor);

export const handler = apiHandler('GET /master-key', getMasterKey, authenticate);
