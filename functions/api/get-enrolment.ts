import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { enrolments } from './directory-context.ts';

/** No token: the enrolment id comes from the enrolment token the operator holds. */
export const getEnrolment: RouteHandler<'GET /enrolments/{id}'> = ({ params }) => enrolments.getSigned(params.id);

export const handler = apiHandler('GET /enrolments/{id}', getEnrolment);
