import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, tokens } from './directory-context.ts';

export const createToken: RouteHandler<'POST /tokens'> = ({ actor, body }) => tokens.create(actor, body);

export const handler = apiHandler('POST /tokens', createToken, authenticate);
