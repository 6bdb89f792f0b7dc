import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { makeCreateAccount } from '#shared/domain/accounts/create-account.ts';
import { systemClock } from '#shared/ports/clock.ts';
import { randomIds } from '#shared/ports/ids.ts';
import { createAccountInput } from '#shared/protocol/accounts.ts';
import { dynamo } from '../adapters/aws-clients.ts';
import { dynamoDirectoryStore } from '../adapters/dynamo-directory-store.ts';
import { tableName } from '../config.ts';
import { httpHandler } from '../http/http-handler.ts';
import { parseJsonBody } from '../http/request.ts';
import { json } from '../http/response.ts';

const createAccount = makeCreateAccount({
  directory: dynamoDirectoryStore(dynamo(), tableName('directory')),
  clock: systemClock,
  ids: randomIds,
});

export const createAccountRoute = async (event: APIGatewayProxyEventV2) => {
  const input = parseJsonBody(event, createAccountInput);
  return json(201, await createAccount(input));
};

export const handler = httpHandler(createAccountRoute);
