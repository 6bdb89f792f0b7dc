import { agents } from '../agents-context.ts';
import { apiHandler, type RouteHandler } from '../http/api-route.ts';

/** No token: the proof in the body (owner, token and agent signatures) is the credential. */
export const enrolAgent: RouteHandler<'POST /agents'> = ({ body }) => agents.enrol(body);

export const handler = apiHandler('POST /agents', enrolAgent);
