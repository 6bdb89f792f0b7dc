import { makeReleases } from '#shared/domain/releases/releases.ts';
import { systemClock } from '#shared/ports/clock.ts';
import { randomIds } from '#shared/ports/ids.ts';
import { dynamo, s3, s3Sdk } from '../adapters/aws-clients.ts';
import { dynamoDirectoryStore } from '../adapters/dynamo-directory-store.ts';
import { dynamoReleaseStore } from '../adapters/dynamo-release-store.ts';
import { dynamoStatementStore } from '../adapters/dynamo-statement-store.ts';
import { s3ReleaseObjects } from '../adapters/s3-release-objects.ts';
import { bucketName, tableName } from '../config.ts';
import { lazyPort } from '../lazy-port.ts';
import { act } from './directory-context.ts';

// Only the create and complete routes are bound to the bucket; the others never touch it.
const objects = lazyPort(() => s3ReleaseObjects(s3(), bucketName('releases'), s3Sdk()));

export const releases = makeReleases({
  directory: dynamoDirectoryStore(dynamo(), tableName('directory')),
  statements: dynamoStatementStore(dynamo(), tableName('directory')),
  releases: dynamoReleaseStore(dynamo(), tableName('deployments')),
  objects,
  act,
  clock: systemClock,
  ids: randomIds,
});
