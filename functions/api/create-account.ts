import { makeCreateAccount } from '#shared/domain/accounts/create-account.ts';
import { makeAuditTrail } from '#shared/domain/audit/audit-trail.ts';
import { systemClock } from '#shared/ports/clock.ts';
import { randomIds } from '#shared/ports/ids.ts';
import { dynamo } from '../adapters/aws-clients.ts';
import { dynamoAuditLog } from '../adapters/dynamo-audit-log.ts';
import { dynamoDirectoryStore } from '../adapters/dynamo-directory-store.ts';
import { tableName } from '../config.ts';
import { apiHandler, type RouteHandler } from '../http/api-route.ts';

const useCase = makeCreateAccount({
  directory: dynamoDirectoryStore(dynamo(), tableName('directory')),
  audit: makeAuditTrail({ log: dynamoAuditLog(dynamo(), tableName('deployments')), clock: systemClock }),
  clock: systemClock,
  ids: randomIds,
});

export const createAccount: RouteHandler<'POST /accounts'> = ({ body }) => useCase(body);

export const handler = apiHandler('POST /accounts', createAccount);
