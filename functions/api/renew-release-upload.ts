import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { authenticate } from './directory-context.ts';
import { releases } from './releases-context.ts';

export const renewReleaseUpload: RouteHandler<'POST /apps/{id}/releases/{releaseId}/upload'> = ({ actor, params, body }) =>
  releases.renewUpload(actor, params.id, params.releaseId, body);

export const handler = apiHandler('POST /apps/{id}/releases/{releaseId}/upload', renewReleaseUpload, authenticate);
