import { releasesOrigin } from '../adapters/s3-release-objects.ts';
import { s3, s3Sdk } from '../adapters/aws-clients.ts';
import { agents } from '../agents-context.ts';
import { bucketName } from '../config.ts';
import { apiHandler, type RouteHandler } from '../http/api-route.ts';

// Computed once per cold start: it depends on configuration only.
let origin: Promise<string> | undefined;

/**
 * No token: a fresh timestamp signed with the agent's key is the credential. The answer also
 * names the releases bucket's origin: targets download releases from there and nowhere else.
 */
export const agentSession: RouteHandler<'POST /agents/{id}/session'> = async ({ params, body }) => {
  const session = await agents.session(params.id, body.at, body.signature);
  origin ??= releasesOrigin(s3(), bucketName('releases'), s3Sdk()).catch((error: unknown) => {
    origin = undefined; // asked again next time
    throw error;
  });
  return { ...session, releasesOrigin: await origin };
};

export const handler = apiHandler('POST /agents/{id}/session', agentSession);
