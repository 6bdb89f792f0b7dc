import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, enrolments } from './directory-context.ts';

export const createEnrolment: RouteHandler<'POST /enrolments'> = ({ actor, body }) => enrolments.create(actor, body);

export const handler = apiHandler('POST /enrolments', createEnrolment, authenticate);
