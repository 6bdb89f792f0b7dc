import { LOCAL_ACCOUNT, LOCAL_REGION } from '../lambda-runtime.ts';

/** One IAM authorization a request needs: an action on a resource. */
export type Check = { action: string; resource: string };

export type ServiceRequest = { method: string; url: URL; headers: Record<string, string | string[] | undefined>; body?: Buffer };

export class UnmodelledRequest extends Error {}

const arn = (service: string, resource: string) => `arn:aws:${service}:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${resource}`;
const header = (request: ServiceRequest, name: string) => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
};
const json = (request: ServiceRequest): Record<string, unknown> =>
  request.body?.byteLength ? (JSON.parse(request.body.toString('utf8')) as Record<string, unknown>) : {};
const targetOperation = (request: ServiceRequest) => header(request, 'x-amz-target')?.split('.').pop() ?? '';

/** The access key id a request is signed with (header or presigned query), if any. */
export const accessKeyIdOf = (request: Pick<ServiceRequest, 'url' | 'headers'>): string | undefined => {
  const authorization = header(request as ServiceRequest, 'authorization');
  const credential = authorization?.match(/Credential=([^/,\s]+)\//)?.[1] ?? request.url.searchParams.get('X-Amz-Credential')?.split('/')[0];
  return credential || undefined;
};

/** DynamoDB (JSON 1.0): the table, or for a Query or Scan of an index, the index. */
export const dynamodbChecks = (request: ServiceRequest): Check[] => {
  const operation = targetOperation(request);
  const body = json(request);
  const table = (name: unknown, index?: unknown) => arn('dynamodb', `table/${String(name)}${index ? `/index/${String(index)}` : ''}`);
  switch (operation) {
    case 'BatchGetItem':
    case 'BatchWriteItem':
      return Object.keys((body.RequestItems ?? {}) as object).map((name) => ({ action: `dynamodb:${operation}`, resource: table(name) }));
    case 'TransactWriteItems':
    case 'TransactGetItems': {
      const kinds: Record<string, string> = { Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', ConditionCheck: 'ConditionCheckItem', Get: 'GetItem' };
      return ((body.TransactItems ?? []) as Record<string, { TableName: string }>[]).flatMap((item) =>
        Object.entries(item).map(([kind, op]) => ({ action: `dynamodb:${kinds[kind] ?? kind}`, resource: table(op.TableName) })),
      );
    }
    case 'ListTables':
      return [{ action: 'dynamodb:ListTables', resource: '*' }];
    default:
      if (typeof body.TableName !== 'string') throw new UnmodelledRequest(`DynamoDB ${operation} names no table`);
      return [{ action: `dynamodb:${operation}`, resource: table(body.TableName, operation === 'Query' || operation === 'Scan' ? body.IndexName : undefined) }];
  }
};

/** SQS (JSON protocol, or the query protocol of older clients): the queue. */
export const sqsChecks = (request: ServiceRequest): Check[] => {
  const query = !header(request, 'x-amz-target');
  const params: Record<string, unknown> = query ? Object.fromEntries(new URLSearchParams(request.body?.toString('utf8') ?? '')) : json(request);
  const operation = query ? String(params.Action ?? '') : targetOperation(request);
  const batched: Record<string, string> = {
    SendMessageBatch: 'SendMessage',
    DeleteMessageBatch: 'DeleteMessage',
    ChangeMessageVisibilityBatch: 'ChangeMessageVisibility',
  };
  const action = `sqs:${batched[operation] ?? operation}`;
  if (operation === 'ListQueues') return [{ action, resource: '*' }];
  const name = typeof params.QueueUrl === 'string' ? params.QueueUrl.split('/').pop() : params.QueueName;
  if (typeof name !== 'string' || !name) throw new UnmodelledRequest(`SQS ${operation} names no queue`);
  return [{ action, resource: arn('sqs', name) }];
};

/** S3 (path-style, as the local stack's clients address it): what each REST call needs. */
export const s3Checks = (request: ServiceRequest): Check[] => {
  const [bucket, ...rest] = request.url.pathname.slice(1).split('/');
  if (!bucket) return [{ action: 's3:ListAllMyBuckets', resource: '*' }];
  const key = rest.map(decodeURIComponent).join('/');
  const q = request.url.searchParams;
  const method = request.method.toUpperCase();
  const bucketArn = `arn:aws:s3:::${bucket}`;
  if (!key) {
    if ((method === 'GET' && [...q.keys()].every((k) => ['list-type', 'prefix', 'delimiter', 'max-keys', 'continuation-token', 'start-after', 'encoding-type', 'x-id'].includes(k))) || method === 'HEAD') {
      return [{ action: 's3:ListBucket', resource: bucketArn }];
    }
    if (method === 'GET' && q.has('uploads')) return [{ action: 's3:ListBucketMultipartUploads', resource: bucketArn }];
    throw new UnmodelledRequest(`S3 ${method} on bucket ${bucket} (${[...q.keys()].join(', ')})`);
  }
  const object = `${bucketArn}/${key}`;
  if (method === 'GET' && q.has('uploadId')) return [{ action: 's3:ListMultipartUploadParts', resource: object }];
  if (method === 'GET' || method === 'HEAD') return [{ action: 's3:GetObject', resource: object }];
  if (method === 'DELETE') return [{ action: q.has('uploadId') ? 's3:AbortMultipartUpload' : 's3:DeleteObject', resource: object }];
  if (method === 'PUT' || method === 'POST') {
    const source = header(request, 'x-amz-copy-source');
    return [
      { action: 's3:PutObject', resource: object },
      ...(source ? [{ action: 's3:GetObject', resource: `arn:aws:s3:::${decodeURIComponent(source.replace(/^\//, '').split('?')[0]!)}` }] : []),
    ];
  }
  throw new UnmodelledRequest(`S3 ${method} on an object`);
};

/** The bare address of `Name <address>` or `address`. */
export const emailAddress = (value: string) => (/<([^>]+)>/.exec(value)?.[1] ?? value).trim();

/** SES v2 SendEmail: the sender's identity (its domain, the identity DESIGN's deployments verify). */
export const sesChecks = (request: ServiceRequest): Check[] => {
  if (request.method.toUpperCase() === 'POST' && request.url.pathname === '/v2/email/outbound-emails') {
    const body = json(request) as { FromEmailAddress?: string };
    const domain = emailAddress(body.FromEmailAddress ?? '').split('@')[1];
    if (!domain) throw new UnmodelledRequest('SES SendEmail without a sender address');
    return [{ action: 'ses:SendEmail', resource: arn('ses', `identity/${domain}`) }];
  }
  if (request.url.pathname.startsWith('/v2/')) throw new UnmodelledRequest(`SES ${request.method} ${request.url.pathname}`);
  // The emulator's own pages (the captured mail at /store) are no AWS API.
  return [];
};

/** The recipients of a SendEmail request (for the sandbox). */
export const sesRecipients = (request: ServiceRequest): string[] => {
  const destination = (json(request) as { Destination?: Record<string, string[]> }).Destination ?? {};
  return [...(destination.ToAddresses ?? []), ...(destination.CcAddresses ?? []), ...(destination.BccAddresses ?? [])].map(emailAddress);
};

/** Step Functions (JSON 1.0): the state machine or execution; a task token's answer, the machine of its execution. */
export const stepFunctionsChecks = (stateMachineOfToken: (token: string) => string | undefined) => (request: ServiceRequest): Check[] => {
  const operation = targetOperation(request);
  const body = json(request);
  const action = `states:${operation}`;
  if (typeof body.stateMachineArn === 'string') return [{ action, resource: body.stateMachineArn }];
  if (typeof body.executionArn === 'string') return [{ action, resource: body.executionArn }];
  if (typeof body.taskToken === 'string') {
    // A token of no execution this stack knows (malformed, or issued before a restart) names no
    // state machine to authorize against: the service answers it InvalidToken, as AWS does.
    const machine = stateMachineOfToken(body.taskToken);
    return machine ? [{ action, resource: machine }] : [];
  }
  if (operation === 'CreateStateMachine' || operation.startsWith('List')) return [{ action, resource: '*' }];
  throw new UnmodelledRequest(`Step Functions ${operation}`);
};
