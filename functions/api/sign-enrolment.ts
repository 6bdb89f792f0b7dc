import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate, enrolments } from './directory-context.ts';

export const signEnrolment: RouteHandler<'PUT /enrolments/{id}/signature'> = ({ actor, params, body }) => enrolments.sign(actor, params.id, body.signature);

export const handler = apiHandler('PUT /enrolments/{id}/signature', signEnrolment, authenticate);
