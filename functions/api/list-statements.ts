import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, statements } from './directory-context.ts';

export const listStatements: RouteHandler<'GET /statements'> = ({ actor, query }) => statements.list(actor, query.kind);

export const handler = apiHandler('GET /statements', listStatements, authenticate);
