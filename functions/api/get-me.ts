import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, users } from './directory-context.ts';

export const getMe: RouteHandler<'GET /me'> = ({ actor }) => users.me(actor);

export const handler = apiHandler('GET /me', getMe, authenticate);
