import { makeReleases } from '#shared/domain/releases/releases.ts';
import { systemClock } from '#shared/ports/clock.ts';
import { randomIds } from '#shared/ports/ids.ts';
import { dynamo, s3 } from '../adapters/aws-clients.ts';
import { dynamoDirectoryStore } from '../adapters/dynamo-directory-store.ts';
import { dynamoReleaseStore } from '../adapters/dynamo-release-store.ts';
import { s3ReleaseObjects } from '../adapters/s3-release-objects.ts';
import { bucketName, tableName } from '../config.ts';
import { act } from './directory-context.ts';

// Only the create and complete routes are bound to the bucket; the list route never touches it.
const objects = process.env.RELEASES_BUCKET
  ? s3ReleaseObjects(s3(), bucketName('releases'))
  : { presignPut: unbound, presignGet: unbound, sizeOf: unbound, startMultipart: unbound, presignPart: unbound, completeMultipart: unbound };

function unbound(): never {
  throw new Error('This function is not bound to the releases bucket');
}

export const releases = makeReleases({
  directory: dynamoDirectoryStore(dynamo(), tableName('directory')),
  releases: dynamoReleaseStore(dynamo(), tableName('deployments')),
  objects,
  act,
  clock: systemClock,
  ids: randomIds,
});
