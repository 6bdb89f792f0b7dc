import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { NotFoundError } from '#shared/domain/errors.ts';
import { httpHandler } from '../http/http-handler.ts';
import { webAssets } from '../web/assets.generated.ts';

/**
 * GET /assets/{name}: our pages' own scripts (web/scripts/), from our origin, so the pages' CSP
 * can be `script-src 'self'`. Immutable for a deployed version; pages name them with their
 * subresource integrity hash as well.
 */
export const webAsset = async (event: APIGatewayProxyEventV2) => {
  const name = event.pathParameters?.name ?? '';
  const asset = Object.hasOwn(webAssets, name) ? webAssets[name] : undefined;
  if (!asset) throw new NotFoundError(`No asset ${name}`);
  return {
    statusCode: 200,
    headers: {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=300',
      'x-content-type-options': 'nosniff',
      'cross-origin-resource-policy': 'same-origin',
    },
    body: asset.body,
  };
};

export const handler = httpHandler(webAsset);
