import { agents } from '../agents-context.ts';
import { apiHandler, type RouteHandler } from '../http/api-route.ts';

/** No token: a fresh timestamp signed with the agent's key is the credential. */
export const agentSession: RouteHandler<'POST /agents/{id}/session'> = ({ params, body }) => agents.session(params.id, body.at, body.signature);

export const handler = apiHandler('POST /agents/{id}/session', agentSession);
