import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../cdk/app-factory.ts';
import { routes } from '../../functions/api/routes.ts';
import { functions, type FunctionDeclaration, type FunctionName } from '../../functions/catalog.ts';
import {
  buckets,
  queues,
  stateMachines,
  tables,
  type QueueDeclaration,
  type StateMachineDeclaration,
} from '../../functions/resources.ts';
import { logicalId, resourceMatches, synthLatchkey, type Synthesized } from './synth.ts';

let synthesized: Synthesized;
beforeAll(() => {
  synthesized = synthLatchkey();
});
afterAll(() => synthesized?.dispose());

const catalog = Object.entries(functions) as [FunctionName, FunctionDeclaration][];

/** The environment variables a catalog entry's bindings must produce, and only those. */
const boundEnvVars = (declaration: FunctionDeclaration): string[] => [
  ...Object.keys(declaration.bind.tables ?? {}).map((t) => tables[t as keyof typeof tables].envVar),
  ...Object.keys(declaration.bind.queues ?? {}).map((q) => queues[q as keyof typeof queues].envVar),
  ...Object.keys(declaration.bind.buckets ?? {}).map((b) => buckets[b as keyof typeof buckets].envVar),
  // Only `start` needs the ARN; answering a task token needs only the token.
  ...Object.entries(declaration.bind.stateMachines ?? {})
    .filter(([, access]) => access === 'start')
    .map(([s]) => stateMachines[s as keyof typeof stateMachines].envVar),
  ...(declaration.bind.mail ? ['MAIL_FROM', 'PUBLIC_API_URL'] : []),
];

const fnId = (name: FunctionName): string => logicalId(synthesized.stateless, synthesized.stateless.functions[name]);

describe('functions (one LatchkeyFunction per catalog entry)', () => {
  it('creates exactly one function per catalog entry', () => {
    synthesized.statelessTemplate.resourceCountIs('AWS::Lambda::Function', catalog.length);
  });

  it.each(catalog)('%s: Node.js 24 on arm64, traced, ESM handler, timeout and memory from the catalog', (name, declaration) => {
    const { stateless, statelessTemplate } = synthesized;
    resourceMatches(statelessTemplate, fnId(name), {
      Type: 'AWS::Lambda::Function',
      Properties: {
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Handler: 'index.handler',
        Timeout: declaration.timeoutSeconds ?? 10,
        MemorySize: declaration.memoryMb ?? 256,
        Layers: [{ Ref: logicalId(stateless, stateless.node.findChild('DependenciesLayer') as never) }],
        LoggingConfig: {
          LogFormat: 'JSON',
          LogGroup: { Ref: logicalId(stateless, stateless.functions[name].logGroup as never) },
        },
      },
    });
  });

  it.each(catalog)('%s: environment = Powertools settings, source maps, and one variable per binding', (name, declaration) => {
    const resource = synthesized.statelessTemplate.toJSON().Resources[fnId(name)];
    const variables = resource.Properties.Environment.Variables as Record<string, unknown>;
    expect(variables).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'latchkey',
      POWERTOOLS_METRICS_NAMESPACE: 'Latchkey',
      NODE_OPTIONS: '--enable-source-maps',
    });
    expect(Object.keys(variables).sort()).toEqual(
      ['NODE_OPTIONS', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_SERVICE_NAME', ...boundEnvVars(declaration)].sort(),
    );
  });

  it('binds table variables to the physical names of the stateful stack', () => {
    const variables = synthesized.statelessTemplate.toJSON().Resources[fnId('create-account')].Properties.Environment.Variables;
    expect(variables[tables.directory.envVar]).toMatchObject({
      'Fn::GetStackOutput': { StackName: synthesized.stateful.stackName, OutputName: expect.any(String) },
    });
  });

  it.each(catalog)('%s: its own log group with a retention period, and its own role without managed policies', (name) => {
    const { stateless, statelessTemplate } = synthesized;
    const fn = stateless.functions[name];
    resourceMatches(statelessTemplate, logicalId(stateless, fn.logGroup as never), {
      Type: 'AWS::Logs::LogGroup',
      Properties: { RetentionInDays: 30 },
    });
    resourceMatches(statelessTemplate, logicalId(stateless, fn.executionRole), {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: {
          Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })],
        },
        ManagedPolicyArns: Match.absent(),
      },
    });
  });

  it('attaches one dependencies layer for Node.js 24 on arm64', () => {
    synthesized.statelessTemplate.resourceCountIs('AWS::Lambda::LayerVersion', 1);
    synthesized.statelessTemplate.hasResourceProperties('AWS::Lambda::LayerVersion', {
      CompatibleRuntimes: ['nodejs24.x'],
      CompatibleArchitectures: ['arm64'],
    });
  });
});

describe('HTTP API (from functions/api/routes.ts)', () => {
  it('has one route per route table entry, and no others', () => {
    synthesized.statelessTemplate.resourceCountIs('AWS::ApiGatewayV2::Route', routes.length);
  });

  it.each(routes.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s: a Lambda proxy integration (payload 2.0) to its catalog function, no API Gateway authorizer',
    (routeKey, route) => {
      const { statelessTemplate } = synthesized;
      const integrations = statelessTemplate.findResources('AWS::ApiGatewayV2::Integration', {
        Properties: {
          IntegrationType: 'AWS_PROXY',
          PayloadFormatVersion: '2.0',
          IntegrationUri: { 'Fn::GetAtt': [fnId(route.function), 'Arn'] },
        },
      });
      const [integrationId] = Object.keys(integrations);
      expect(integrationId).toBeDefined();
      statelessTemplate.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: routeKey,
        AuthorizationType: 'NONE',
        Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] },
      });
      // API Gateway may invoke the function, from this API only
      statelessTemplate.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [fnId(route.function), 'Arn'] },
        Principal: 'apigateway.amazonaws.com',
        SourceArn: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
      });
    },
  );

  it('has a $default stage with throttling and JSON access logs', () => {
    const { stateless, statelessTemplate } = synthesized;
    const accessLogs = logicalId(stateless, stateless.api.accessLogs);
    statelessTemplate.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
      },
    });
    resourceMatches(statelessTemplate, accessLogs, { Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 90 } });
  });
});

describe('workflow (state machines from their ASL files)', () => {
  const machines = Object.entries(stateMachines) as [keyof typeof stateMachines, StateMachineDeclaration][];

  it.each(machines)('%s: Standard, traced, logged; the ASL file verbatim with substitutions to function ARNs', (name, declaration) => {
    const { stateless, statelessTemplate } = synthesized;
    const machine = stateless.workflow.stateMachines[name].stateMachine;
    const definition = readFileSync(join(projectRoot, declaration.definitionFile), 'utf8');
    const substitutions = Object.fromEntries(
      Object.entries(declaration.functionSubstitutions).map(([key, fn]) => [
        key,
        { 'Fn::GetAtt': [fnId(fn as FunctionName), 'Arn'] },
      ]),
    );
    resourceMatches(statelessTemplate, logicalId(stateless, machine as never), {
      Type: 'AWS::StepFunctions::StateMachine',
      Properties: {
        StateMachineType: 'STANDARD',
        DefinitionString: definition,
        DefinitionSubstitutions: substitutions,
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false, Destinations: [Match.anyValue()] },
      },
    });
  });

  it.each(machines)('%s: its role may invoke exactly the substituted functions', (name, declaration) => {
    const { stateless, statelessTemplate } = synthesized;
    const machine = stateless.workflow.stateMachines[name].stateMachine;
    const arns = Object.values(declaration.functionSubstitutions)
      .map((fn) => fnId(fn as FunctionName))
      .sort() // CDK renders the resources of a statement sorted
      .map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] }));
    statelessTemplate.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: logicalId(stateless, (machine as StateMachine).role as never) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: 'lambda:InvokeFunction',
            // CloudFormation renders a single resource as a scalar
            Resource: arns.length === 1 ? arns[0] : arns,
          },
        ]),
      },
    });
  });
});

describe('queue consumers', () => {
  const consumed = (Object.entries(queues) as [keyof typeof queues, QueueDeclaration][]).filter(
    ([, declaration]) => declaration.consumer !== undefined,
  );

  it('creates one event source mapping per consumed queue', () => {
    synthesized.statelessTemplate.resourceCountIs('AWS::Lambda::EventSourceMapping', consumed.length);
  });

  it.each(consumed)('%s: SQS event source on its consumer, declared batch size, partial batch failures', (_name, declaration) => {
    synthesized.statelessTemplate.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnId(declaration.consumer as FunctionName) },
      EventSourceArn: { 'Fn::GetStackOutput': Match.objectLike({ StackName: synthesized.stateful.stackName }) },
      BatchSize: declaration.batchSize,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });
});
