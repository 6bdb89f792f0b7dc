import { functions, type FunctionName } from '#functions/catalog.ts';
import { buckets, queues, stateMachines, tables, type BucketName, type QueueName, type StateMachineName, type TableName } from '#functions/resources.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION, localFunctionArn, localFunctionName } from '../lambda-runtime.ts';
import type { AssembledStack, CfnResource } from './cloud-assembly.ts';
import { resolveCfn, type LocalValue, type ResolveContext } from './cfn-resolve.ts';

/** What the local stack made of each declared resource. */
export type LocalResources = {
  tables: Record<TableName, string>;
  buckets: Record<BucketName, string>;
  queues: Record<QueueName, { url: string; arn: string; dlqUrl: string; dlqArn: string }>;
  stateMachines: Record<StateMachineName, string>;
  /** The HTTP API's base URL, known once it listens (approval links point at it). */
  apiUrl: () => string;
};

export type PolicyDocument = { Version?: string; Statement: unknown[] };

/** An IAM role of the template, as the local stack enforces it. */
export type LocalRole = { roleArn: string; policies: PolicyDocument[] };

export type LocalFunctionModel = LocalRole & {
  /** The environment variables the template gives the function, resolved to local values. */
  environment: () => Record<string, string>;
};

export type LocalModel = {
  functions: Record<FunctionName, LocalFunctionModel>;
  stateMachines: Record<StateMachineName, LocalRole>;
};

const pascal = (name: string) =>
  name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

const stackEndingWith = (stacks: AssembledStack[], suffix: string): AssembledStack => {
  const found = stacks.filter((stack) => stack.name.endsWith(suffix));
  if (found.length !== 1) throw new Error(`the cloud assembly should hold one stack named *${suffix}, not ${found.length}`);
  return found[0]!;
};

/**
 * Each function's environment and IAM policies, and each state machine's role, from the
 * synthesized templates (local/iam/local-synth.ts or any `cdk synth` output), with every
 * reference resolved to the local stack's resources: table names, queue URLs, ARNs in the
 * local account and region. This is what the local stack runs each function with.
 */
export const localModel = (stacks: AssembledStack[], resources: LocalResources): LocalModel => {
  const stateful = stackEndingWith(stacks, '-Stateful');
  const stateless = stackEndingWith(stacks, '-Stateless');
  const values = new Map<string, LocalValue>();
  const at = (stack: AssembledStack, constructPath: string, value: LocalValue) => {
    const logicalId = stack.logicalIdOf(`/${stack.name}/${constructPath}/Resource`);
    if (logicalId) values.set(`${stack.name}/${logicalId}`, value);
  };
  const arn = (service: string, resource: string) => `arn:aws:${service}:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${resource}`;

  for (const [name, physical] of Object.entries(resources.tables) as [TableName, string][]) {
    if (!(name in tables)) continue;
    at(stateful, `Data/${pascal(name)}Table`, { ref: physical, attributes: { Arn: arn('dynamodb', `table/${physical}`) } });
  }
  for (const [name, physical] of Object.entries(resources.buckets) as [BucketName, string][]) {
    if (!(name in buckets)) continue;
    at(stateful, `Releases/${pascal(name)}Bucket`, { ref: physical, attributes: { Arn: `arn:aws:s3:::${physical}` } });
  }
  for (const [name, made] of Object.entries(resources.queues) as [QueueName, LocalResources['queues'][QueueName]][]) {
    if (!(name in queues)) continue;
    const queueName = (url: string) => url.split('/').pop()!;
    at(stateful, `Agents/${pascal(name)}Queue`, { ref: made.url, attributes: { Arn: made.arn, QueueName: queueName(made.url), QueueUrl: made.url } });
    at(stateful, `Agents/${pascal(name)}DeadLetterQueue`, { ref: made.dlqUrl, attributes: { Arn: made.dlqArn, QueueName: queueName(made.dlqUrl), QueueUrl: made.dlqUrl } });
  }
  for (const [name, machineArn] of Object.entries(resources.stateMachines) as [StateMachineName, string][]) {
    if (!(name in stateMachines)) continue;
    at(stateless, `Workflow/${pascal(name)}StateMachine`, { ref: machineArn, attributes: { Arn: machineArn, Name: machineArn.split(':').pop()! } });
  }
  for (const name of Object.keys(functions) as FunctionName[]) {
    at(stateless, `${pascal(name)}Function`, { ref: localFunctionName(name), attributes: { Arn: localFunctionArn(name) } });
  }

  const apiId = stateless.logicalIdOf(`/${stateless.name}/Api/HttpApi/Resource`);
  const ctx: ResolveContext = {
    region: LOCAL_REGION,
    account: LOCAL_ACCOUNT,
    stacks,
    valueOf: (stack, logicalId) => {
      const known = values.get(`${stack.name}/${logicalId}`);
      if (known) return known;
      if (stack === stateless && logicalId === apiId) return { ref: 'local', attributes: { ApiEndpoint: resources.apiUrl() } };
      const resource = stack.template.Resources[logicalId];
      if (!resource) return undefined;
      // Roles are principals here; anything else the local stack does not emulate (log groups,
      // the layer) only appears in statements about services it does not serve, so any
      // distinct ARN stands in for it.
      if (resource.Type === 'AWS::IAM::Role') return { ref: logicalId, attributes: { Arn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/${logicalId}` } };
      return { ref: logicalId, attributes: { Arn: arn('local', logicalId) } };
    },
  };
  const resolve = <T>(value: unknown, stack: AssembledStack) => resolveCfn(value, stack, ctx) as T;

  const roleOf = (stack: AssembledStack, roleReference: unknown, owner: string): LocalRole => {
    const roleId = (roleReference as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt']?.[0];
    const role = roleId ? stack.template.Resources[roleId] : undefined;
    if (!roleId || role?.Type !== 'AWS::IAM::Role') throw new Error(`${owner}: its role is not a role of ${stack.name}`);
    if ((role.Properties?.ManagedPolicyArns as unknown[] | undefined)?.length) {
      throw new Error(`${owner}: managed policies are not modelled by the local stack; grant with statements`);
    }
    const inline = ((role.Properties?.Policies ?? []) as { PolicyDocument: unknown }[]).map((p) => p.PolicyDocument);
    const attached = Object.values(stack.template.Resources)
      .filter((r: CfnResource) => r.Type === 'AWS::IAM::Policy' && ((r.Properties?.Roles ?? []) as { Ref?: string }[]).some((ref) => ref.Ref === roleId))
      .map((r) => r.Properties!.PolicyDocument);
    return {
      roleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/${roleId}`,
      policies: [...inline, ...attached].map((document) => resolve<PolicyDocument>(document, stack)),
    };
  };

  const resourceAt = (stack: AssembledStack, constructPath: string, what: string): CfnResource => {
    const logicalId = stack.logicalIdOf(`/${stack.name}/${constructPath}/Resource`);
    const resource = logicalId ? stack.template.Resources[logicalId] : undefined;
    if (!resource) throw new Error(`${stack.name} has no ${what} at ${constructPath}`);
    return resource;
  };

  const functionModels = {} as Record<FunctionName, LocalFunctionModel>;
  for (const name of Object.keys(functions) as FunctionName[]) {
    const resource = resourceAt(stateless, `${pascal(name)}Function`, `function ${name}`);
    const variables = ((resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {});
    functionModels[name] = {
      ...roleOf(stateless, resource.Properties?.Role, `function ${name}`),
      // Resolved when the function first runs: PUBLIC_API_URL exists only once the API listens.
      environment: () => resolve<Record<string, string>>(variables, stateless),
    };
  }
  const machineModels = {} as Record<StateMachineName, LocalRole>;
  for (const name of Object.keys(stateMachines) as StateMachineName[]) {
    const resource = resourceAt(stateless, `Workflow/${pascal(name)}StateMachine`, `state machine ${name}`);
    machineModels[name] = roleOf(stateless, resource.Properties?.RoleArn, `state machine ${name}`);
  }
  return { functions: functionModels, stateMachines: machineModels };
};
