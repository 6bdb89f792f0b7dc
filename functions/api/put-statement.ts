import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, statements } from './directory-context.ts';

export const putStatement: RouteHandler<'PUT /statements'> = ({ actor, body }) => statements.record(actor, body);

export const handler = apiHandler('PUT /statements', putStatement, authenticate);
