import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functions, type FunctionDeclaration, type FunctionName } from '../../functions/catalog.ts';
import { buckets, queues, tables, type QueueDeclaration, type TableDeclaration } from '../../functions/resources.ts';
import { asArray, logicalId, policyStatements, synthLatchkey, type Statement, type Synthesized } from './synth.ts';

let synthesized: Synthesized;
beforeAll(() => {
  synthesized = synthLatchkey();
});
afterAll(() => synthesized?.dispose());

/**
 * The only actions allowed on `"Resource": "*"`: AWS offers no resource-level permissions for
 * them. Each entry says why it is needed.
 */
const wildcardResourceAllowlist: Record<string, string> = {
  'xray:PutTraceSegments': 'X-Ray active tracing (Lambda, Step Functions); no resource-level permissions',
  'xray:PutTelemetryRecords': 'X-Ray active tracing (Lambda, Step Functions); no resource-level permissions',
  'xray:GetSamplingRules': 'X-Ray tracing of Step Functions; no resource-level permissions',
  'xray:GetSamplingTargets': 'X-Ray tracing of Step Functions; no resource-level permissions',
  'logs:CreateLogDelivery': 'Step Functions execution logs use vended log delivery, authorized on "*" only',
  'logs:GetLogDelivery': 'Step Functions execution logs use vended log delivery, authorized on "*" only',
  'logs:UpdateLogDelivery': 'Step Functions execution logs use vended log delivery, authorized on "*" only',
  'logs:DeleteLogDelivery': 'Step Functions execution logs use vended log delivery, authorized on "*" only',
  'logs:ListLogDeliveries': 'Step Functions execution logs use vended log delivery, authorized on "*" only',
  'logs:PutResourcePolicy': 'log delivery writes the account-level CloudWatch Logs resource policy',
  'logs:DescribeResourcePolicies': 'log delivery reads the account-level CloudWatch Logs resource policy',
  'logs:DescribeLogGroups': 'log delivery lists log groups; the action has no resource-level permissions',
};

/** String leaves of a CloudFormation value (literal parts of ARNs, joins, subs). */
const literals = (value: unknown): string[] => {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(literals);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(literals);
  return [];
};

/** S3 object actions a bucket binding may grant (`read` / `readwrite`). */
const objectActions = ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'];

/** `<ARN of a bucket of the stateful stack>/*`, as a cross-stack reference joined with `/*`. */
const isBucketObjects = (target: unknown): boolean => {
  const join = (target as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join === undefined || join[1].length !== 2 || join[1][1] !== '/*') return false;
  const output = (join[1][0] as { 'Fn::GetStackOutput'?: { StackName: string; OutputName: string } })['Fn::GetStackOutput'];
  if (output === undefined || output.StackName !== synthesized.stateful.stackName) return false;
  const { stateful } = synthesized;
  const bucketIds = Object.values(stateful.releases.buckets).map((b) => logicalId(stateful, b.bucket as never));
  const value = JSON.stringify(synthesized.statefulTemplate.toJSON().Outputs[output.OutputName]?.Value);
  return bucketIds.some((id) => value === JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] }));
};

/**
 * The other documented exception to "no wildcard in a resource": the per-agent request queues
 * are created at run time when an agent enrols, named `<prefix><agent id>`, so their grants name
 * this deployment's prefix with a trailing `*`, and only for these actions (DESIGN §6).
 */
const agentQueuePrefixAllowlist: Record<string, string> = {
  'sqs:SendMessage': 'agentQueues send/manage: put a request on an agent queue',
  'sqs:GetQueueUrl': 'agentQueues send/manage: look up an agent queue',
  'sqs:CreateQueue': 'agentQueues manage: create the queue of an enrolling agent',
  'sqs:DeleteQueue': 'agentQueues manage: delete the queue of a removed agent',
  'sqs:GetQueueAttributes': 'agentQueues manage, and the AgentRole (its sessions are narrowed to one queue)',
  'sqs:SetQueueAttributes': 'agentQueues manage: settings of an agent queue',
  'sqs:TagQueue': 'agentQueues manage: tags of an agent queue',
  'sqs:ReceiveMessage': 'AgentRole: an agent takes requests off its own queue (narrowed by the session policy)',
  'sqs:DeleteMessage': 'AgentRole: an agent deletes the requests it handled (narrowed by the session policy)',
  'sqs:ChangeMessageVisibility': 'AgentRole: an agent extends a request it is working on (narrowed by the session policy)',
};

/** `arn:<partition>:sqs:<region>:<account>:<this stage's agent queue prefix>*`, exactly. */
const agentQueuesArn = () => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':sqs:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      `:${synthesized.stateless.agentQueuePrefix}*`,
    ],
  ],
});
const isAgentQueues = (target: unknown): boolean => JSON.stringify(target) === JSON.stringify(agentQueuesArn());

const templates = () => [
  ['stateful', synthesized.statefulTemplate],
  ['stateless', synthesized.statelessTemplate],
] as const;

describe('IAM: every policy names specific resources', () => {
  it('has IAM statements to check (the test is not vacuous)', () => {
    expect(policyStatements(synthesized.statelessTemplate).length).toBeGreaterThan(10);
  });

  it.each(['stateful', 'stateless'] as const)('%s: "Resource": "*" only for allowlisted actions', (which) => {
    const template = which === 'stateful' ? synthesized.statefulTemplate : synthesized.statelessTemplate;
    const offending = policyStatements(template)
      .filter(({ statement }) => statement.Effect === 'Allow' && asArray(statement.Resource).includes('*'))
      .flatMap(({ resource, statement }) =>
        asArray(statement.Action)
          .filter((action) => wildcardResourceAllowlist[action] === undefined)
          .map((action) => `${resource}: ${action} on "*"`),
      );
    expect(offending).toEqual([]);
  });

  it.each(['stateful', 'stateless'] as const)('%s: no other wildcard in a resource, no wildcard action', (which) => {
    const template = which === 'stateful' ? synthesized.statefulTemplate : synthesized.statelessTemplate;
    const offending: string[] = [];
    for (const { resource, statement } of policyStatements(template)) {
      if (statement.Effect !== 'Allow') continue;
      const actions = asArray(statement.Action);
      for (const action of actions) if (action.includes('*')) offending.push(`${resource}: action ${action}`);
      for (const target of asArray(statement.Resource)) {
        if (target === '*') continue; // checked against the allowlist above
        // The one documented exception: object keys are made at run time, so a bucket binding
        // grants object actions on `<bucket ARN>/*` of that one bucket (see bindBucket).
        if (isBucketObjects(target) && actions.every((action) => objectActions.includes(action))) continue;
        // The per-agent queues: this deployment's queue-name prefix, allowlisted actions only.
        if (isAgentQueues(target) && actions.every((action) => agentQueuePrefixAllowlist[action] !== undefined)) continue;
        if (literals(target).some((part) => part.includes('*'))) offending.push(`${resource}: resource ${JSON.stringify(target)}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('the agent queue prefix is the stage\'s own (the allowlisted wildcard covers no other stage)', () => {
    expect(synthesized.stateless.agentQueuePrefix).toBe('Latchkey-test-Agent-');
  });

  it.each(['stateful', 'stateless'] as const)('%s: no wildcard principal in any trust policy', (which) => {
    const template = which === 'stateful' ? synthesized.statefulTemplate : synthesized.statelessTemplate;
    for (const [id, role] of Object.entries(template.findResources('AWS::IAM::Role'))) {
      for (const statement of role.Properties.AssumeRolePolicyDocument.Statement as { Principal: unknown }[]) {
        expect(literals(statement.Principal).filter((part) => part.includes('*')), id).toEqual([]);
        expect(statement.Principal, id).not.toEqual('*');
      }
    }
  });

  it('no role carries a managed policy (AWSLambdaBasicExecutionRole grants logs on "*")', () => {
    synthesized.statefulTemplate.resourceCountIs('AWS::IAM::Role', 0);
    synthesized.statelessTemplate.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });
});

describe('IAM: grants follow the catalog bindings', () => {
  const catalog = Object.entries(functions) as [FunctionName, FunctionDeclaration][];
  const readActions = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'];
  const writeActions = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];

  /** A readable key for a policy resource: `output:<name>`, `getatt:<id>.<attr>`, `ref:<id>`, joined literals. */
  const resourceKey = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const node = value as Record<string, unknown>;
    if ('Fn::GetStackOutput' in node) return `output:${(node['Fn::GetStackOutput'] as { OutputName: string }).OutputName}`;
    if ('Fn::GetAtt' in node) return `getatt:${(node['Fn::GetAtt'] as string[]).join('.')}`;
    if ('Ref' in node) return `ref:${node.Ref as string}`;
    if ('Fn::Join' in node) {
      const [separator, parts] = node['Fn::Join'] as [string, unknown[]];
      return parts.map(resourceKey).join(separator);
    }
    return JSON.stringify(value);
  };

  /** Every (action, resource) pair a function's role allows, for actions of one service. */
  const grantsOf = (name: FunctionName, service: string): string[] => {
    const { stateless, statelessTemplate } = synthesized;
    const role = logicalId(stateless, stateless.functions[name].executionRole);
    const policies = statelessTemplate.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } });
    const pairs = Object.values(policies).flatMap((policy) =>
      (policy.Properties.PolicyDocument.Statement as { Effect: string; Action: string | string[]; Resource: unknown }[])
        .filter((statement) => statement.Effect === 'Allow')
        .flatMap((statement) =>
          asArray(statement.Action)
            .filter((action) => action.startsWith(`${service}:`))
            .flatMap((action) => asArray(statement.Resource).map((resource) => `${action} on ${resourceKey(resource)}`)),
        ),
    );
    return [...new Set(pairs)].sort();
  };

  /** The name of the stateful output that carries `Fn::GetAtt [id, attribute]` (or `Ref`). */
  const outputOf = (id: string, attribute?: string): string => {
    const outputs = synthesized.statefulTemplate.toJSON().Outputs as Record<string, { Value: unknown }>;
    const wanted = JSON.stringify(attribute === undefined ? { Ref: id } : { 'Fn::GetAtt': [id, attribute] });
    const found = Object.entries(outputs).find(([, output]) => JSON.stringify(output.Value) === wanted);
    if (found === undefined) throw new Error(`no output of ${id} ${attribute ?? 'Ref'}`);
    return `output:${found[0]}`;
  };

  it.each(catalog)('%s: DynamoDB: exactly its bound tables and their declared indexes; never Scan or transactions', (name, declaration) => {
    const { stateful } = synthesized;
    const expected = (Object.entries(declaration.bind.tables ?? {}) as [keyof typeof tables, 'RO' | 'RW'][]).flatMap(
      ([table, mode]) => {
        const arn = outputOf(logicalId(stateful, stateful.data.tables[table].table as never), 'Arn');
        const declared: TableDeclaration = tables[table];
        return [
          ...(mode === 'RW' ? [...readActions, ...writeActions] : readActions).map((action) => `${action} on ${arn}`),
          ...declared.globalIndexes.map((index) => `dynamodb:Query on ${arn}/index/${index.indexName}`),
        ];
      },
    );
    const granted = grantsOf(name, 'dynamodb');
    expect(granted).toEqual([...new Set(expected)].sort());
    expect(granted.filter((grant) => /dynamodb:(Scan|Transact)/.test(grant))).toEqual([]);
  });

  it.each(catalog)('%s: Step Functions: exactly as bound (start, or answer task tokens)', (name, declaration) => {
    const { stateless } = synthesized;
    const expected = (
      Object.entries(declaration.bind.stateMachines ?? {}) as [keyof typeof stateless.workflow.stateMachines, 'start' | 'respond'][]
    ).flatMap(([machine, access]) => {
      const ref = `ref:${logicalId(stateless, stateless.workflow.stateMachines[machine].stateMachine as never)}`;
      const actions =
        access === 'start' ? ['states:StartExecution'] : ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'];
      return actions.map((action) => `${action} on ${ref}`);
    });
    expect(grantsOf(name, 'states')).toEqual(expected.sort());
  });

  it.each(catalog)('%s: SES: send only when bound to mail, only as the sender domain', (name, declaration) => {
    const granted = grantsOf(name, 'ses');
    if (!declaration.bind.mail) {
      expect(granted).toEqual([]);
      return;
    }
    expect(granted).toHaveLength(1);
    expect(granted[0]).toMatch(/^ses:SendEmail on .*identity\/mail\.latchkey\.dev/);
  });

  it.each(catalog)('%s: SQS: send only to bound queues, consume only the queue it is the consumer of', (name, declaration) => {
    const { stateful } = synthesized;
    const sends = (Object.keys(declaration.bind.queues ?? {}) as (keyof typeof queues)[]).map(
      (queue) => `sqs:SendMessage on ${outputOf(logicalId(stateful, stateful.agents.queues[queue].queue as never), 'Arn')}`,
    );
    const consumes = (Object.entries(queues) as [keyof typeof queues, QueueDeclaration][])
      .filter(([, queue]) => queue.consumer === name)
      .flatMap(([queue]) => {
        const arn = outputOf(logicalId(stateful, stateful.agents.queues[queue].queue as never), 'Arn');
        return ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'].map(
          (action) => `${action} on ${arn}`,
        );
      });
    const agentQueues = `${resourceKey(agentQueuesArn())}`;
    expect(agentQueues).toBe('arn:ref:AWS::Partition:sqs:ref:AWS::Region:ref:AWS::AccountId:Latchkey-test-Agent-*');
    const agentQueueActions = {
      none: [],
      send: ['sqs:GetQueueUrl', 'sqs:SendMessage'],
      manage: [
        'sqs:CreateQueue',
        'sqs:DeleteQueue',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
        'sqs:SetQueueAttributes',
        'sqs:TagQueue',
      ],
    }[declaration.bind.agentQueues ?? 'none'].map((action) => `${action} on ${agentQueues}`);
    expect(grantsOf(name, 'sqs')).toEqual([...sends, ...consumes, ...agentQueueActions].sort());
  });

  it.each(catalog)('%s: STS: assume exactly the agent role, only when bound to agent credentials', (name, declaration) => {
    const { stateless } = synthesized;
    const expected = declaration.bind.agentCredentials ? [`sts:AssumeRole on getatt:${logicalId(stateless, stateless.agentRole!)}.Arn`] : [];
    expect(grantsOf(name, 'sts')).toEqual(expected);
  });

  it.each(catalog)('%s: no actions beyond the services its bindings name', (name) => {
    const services = ['dynamodb', 'states', 'ses', 'sqs', 's3', 'logs', 'xray', 'sts'];
    const { stateless, statelessTemplate } = synthesized;
    const role = logicalId(stateless, stateless.functions[name].executionRole);
    const policies = statelessTemplate.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } });
    const actions = Object.values(policies).flatMap((policy) =>
      (policy.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((statement) => asArray(statement.Action)),
    );
    expect(actions.filter((action) => !services.includes(action.split(':')[0]!))).toEqual([]);
  });

  it.each(catalog)('%s: S3: object actions only on the objects of bound buckets, listing only the bound buckets', (name, declaration) => {
    const { stateful } = synthesized;
    const expected = (Object.entries(declaration.bind.buckets ?? {}) as [keyof typeof buckets, 'read' | 'readwrite'][]).flatMap(
      ([bucket, access]) => {
        const bucketArn = outputOf(logicalId(stateful, stateful.releases.buckets[bucket].bucket as never), 'Arn');
        const objects = `${bucketArn}/*`;
        // ListBucket on the bucket itself: a read of a missing object is then 404, not 403.
        return [...(access === 'readwrite' ? objectActions : ['s3:GetObject']).map((action) => `${action} on ${objects}`), `s3:ListBucket on ${bucketArn}`];
      },
    );
    expect(grantsOf(name, 's3')).toEqual(expected.sort());
  });

  it.each(catalog)('%s: CloudWatch Logs only its own log group', (name) => {
    const { stateless } = synthesized;
    const logGroup = `getatt:${logicalId(stateless, stateless.functions[name].logGroup as never)}.Arn`;
    expect(grantsOf(name, 'logs')).toEqual([`logs:CreateLogStream on ${logGroup}`, `logs:PutLogEvents on ${logGroup}`]);
  });
});

describe('IAM: the agent role (short-lived agent credentials, DESIGN §6)', () => {
  const credentialIssuers = (Object.entries(functions) as [FunctionName, FunctionDeclaration][])
    .filter(([, declaration]) => declaration.bind.agentCredentials === true)
    .map(([name]) => name);
  const agentRole = () => {
    const { stateless, statelessTemplate } = synthesized;
    const id = logicalId(stateless, stateless.agentRole!);
    return { id, resource: statelessTemplate.toJSON().Resources[id] };
  };
  const replyQueueArn = () => {
    const { stateful, statefulTemplate } = synthesized;
    const queueId = logicalId(stateful, stateful.agents.queues.agentReplies.queue as never);
    const outputs = statefulTemplate.toJSON().Outputs as Record<string, { Value: unknown }>;
    const [outputName] = Object.entries(outputs).find(
      ([, output]) => JSON.stringify(output.Value) === JSON.stringify({ 'Fn::GetAtt': [queueId, 'Arn'] }),
    )!;
    return { 'Fn::GetStackOutput': { StackName: stateful.stackName, Region: { Ref: 'AWS::Region' }, OutputName: outputName } };
  };

  it('exactly one role is assumable by anything other than a service: the agent role', () => {
    const roles = Object.entries(synthesized.statelessTemplate.findResources('AWS::IAM::Role'));
    const nonService = roles
      .filter(([, role]) =>
        (role.Properties.AssumeRolePolicyDocument.Statement as { Principal: Record<string, unknown> }[]).some(
          (statement) => Object.keys(statement.Principal).some((kind) => kind !== 'Service'),
        ),
      )
      .map(([id]) => id);
    expect(credentialIssuers.length).toBeGreaterThan(0);
    expect(nonService).toEqual([agentRole().id]);
  });

  it('trusts exactly the roles of the functions bound to agentCredentials; sessions last at most an hour', () => {
    const { stateless } = synthesized;
    const principals = credentialIssuers
      .map((name) => ({ 'Fn::GetAtt': [logicalId(stateless, stateless.functions[name].executionRole), 'Arn'] }))
      .sort((a, b) => a['Fn::GetAtt'][0]!.localeCompare(b['Fn::GetAtt'][0]!));
    const { resource } = agentRole();
    expect(resource.Properties.MaxSessionDuration).toBe(3600);
    expect(resource.Properties.ManagedPolicyArns).toBeUndefined();
    expect(resource.Properties.RoleName).toBeUndefined();
    expect(resource.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: principals.length === 1 ? principals[0] : principals } },
    ]);
  });

  it('may take requests off this deployment\'s agent queues and send to the reply queue, nothing else', () => {
    const { resource } = agentRole();
    const statements = (resource.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
      (policy) => policy.PolicyDocument.Statement,
    );
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
        Resource: agentQueuesArn(),
      },
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: replyQueueArn() },
    ]);
    // and no separate policy attaches anything else to it
    const attached = synthesized.statelessTemplate.findResources('AWS::IAM::Policy', {
      Properties: { Roles: Match.arrayWith([{ Ref: agentRole().id }]) },
    });
    expect(Object.keys(attached)).toEqual([]);
  });
});

describe('no physical resource name is hard-coded (two stages can share an account)', () => {
  const nameProperties: Record<string, string> = {
    'AWS::DynamoDB::Table': 'TableName',
    'AWS::SQS::Queue': 'QueueName',
    'AWS::S3::Bucket': 'BucketName',
    'AWS::Lambda::Function': 'FunctionName',
    'AWS::Lambda::LayerVersion': 'LayerName',
    'AWS::Logs::LogGroup': 'LogGroupName',
    'AWS::StepFunctions::StateMachine': 'StateMachineName',
    'AWS::IAM::Role': 'RoleName',
  };

  it.each(Object.entries(nameProperties))('%s has no %s (but one made of its stack name)', (type, property) => {
    const resources = templates().flatMap(([, template]) => Object.entries(template.findResources(type)));
    expect(resources.length).toBeGreaterThan(0);
    // The Step Functions log groups must be named (under /aws/vendedlogs/): after their stack, so per stage.
    const stackNames = [synthesized.stateful.stackName, synthesized.stateless.stackName];
    const named = resources.filter(([, resource]) => {
      const name: unknown = resource.Properties?.[property];
      return name !== undefined && !(typeof name === 'string' && stackNames.some((stack) => name.includes(`/${stack}-`)));
    });
    expect(named.map(([id]) => id)).toEqual([]);
  });

  it('names the HTTP API after its stack, so each stage has its own', () => {
    synthesized.statelessTemplate.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      Name: `${synthesized.stateless.stackName}-api`,
    });
  });
});
