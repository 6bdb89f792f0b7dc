import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentQueuePrefixOf, buildLatchkey, projectContext, projectRoot } from '../../cdk/app-factory.ts';
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
import { logicalId, resourceMatches, synthLatchkey, TEST_MAIL_FROM, type Synthesized } from './synth.ts';

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
  ...(declaration.bind.mail ? ['MAIL_FROM'] : []),
  // Passkey pages are bound to the API's origin, with or without mail.
  ...(declaration.bind.mail || declaration.bind.publicUrl ? ['PUBLIC_API_URL'] : []),
  // Whoever sends to an agent judges whether it is online (functions/agents-context.ts).
  ...(declaration.bind.agentQueues ? ['AGENT_QUEUE_PREFIX'] : []),
  ...(declaration.bind.agentCredentials ? ['AGENT_ROLE_ARN'] : []),
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
      ['AGENT_ACK_SECONDS', 'AGENT_HEARTBEAT_SECONDS', 'AGENT_ONLINE_SECONDS', 'NODE_OPTIONS', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_SERVICE_NAME', ...boundEnvVars(declaration)].sort(),
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

  it('POST /accounts (no token needed) has a throttle of its own, below the stage’s, and the stage waits for that route', () => {
    const { stateless, statelessTemplate } = synthesized;
    statelessTemplate.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      RouteSettings: { 'POST /accounts': { ThrottlingRateLimit: 1, ThrottlingBurstLimit: 5 } },
    });
    const stageId = logicalId(stateless, stateless.api.stage);
    const dependsOn = statelessTemplate.toJSON().Resources[stageId].DependsOn as string[];
    const routes = statelessTemplate.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: 'POST /accounts' } });
    expect(dependsOn).toEqual(expect.arrayContaining(Object.keys(routes)));
    expect(Object.keys(routes)).toHaveLength(1);
  });
});

describe('workflow (state machines from their ASL files)', () => {
  const machines = Object.entries(stateMachines) as [keyof typeof stateMachines, StateMachineDeclaration][];

  it.each(machines)('%s: Standard, traced, logged; the ASL file verbatim with substitutions to function ARNs', (name, declaration) => {
    const { stateless, statelessTemplate } = synthesized;
    const machine = stateless.workflow.stateMachines[name].stateMachine;
    const definition = readFileSync(join(projectRoot, declaration.definitionFile), 'utf8');
    const substitutions = {
      ...Object.fromEntries(
        Object.entries(declaration.functionSubstitutions).map(([key, fn]) => [
          key,
          { 'Fn::GetAtt': [fnId(fn as FunctionName), 'Arn'] },
        ]),
      ),
      // the definition names no partition: the stack's own is substituted
      Partition: { Ref: 'AWS::Partition' },
    };
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

  it.each(machines)('%s: logs to a log group under /aws/vendedlogs/states/ (named after the stack)', (name) => {
    const { stateless, statelessTemplate } = synthesized;
    statelessTemplate.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: `/aws/vendedlogs/states/${stateless.stackName}-${name}`, RetentionInDays: 90 });
    const machine = logicalId(stateless, stateless.workflow.stateMachines[name].stateMachine as never);
    const destination = statelessTemplate.toJSON().Resources[machine].Properties.LoggingConfiguration.Destinations[0];
    const logGroupId = destination.CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
    expect(statelessTemplate.toJSON().Resources[logGroupId].Properties.LogGroupName).toBe(`/aws/vendedlogs/states/${stateless.stackName}-${name}`);
  });

  it.each(machines)('%s: an alarm on failed executions, sent to the alarm topic', (name) => {
    const { stateless, statelessTemplate } = synthesized;
    const machine = logicalId(stateless, stateless.workflow.stateMachines[name].stateMachine as never);
    statelessTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsFailed',
      Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: machine } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [Match.anyValue()],
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

describe('agent bindings (per-agent queues, agent credentials)', () => {
  const variablesOf = (name: FunctionName): Record<string, unknown> =>
    synthesized.statelessTemplate.toJSON().Resources[fnId(name)].Properties.Environment.Variables;
  const agentQueueFunctions = catalog.filter(([, declaration]) => declaration.bind.agentQueues !== undefined);
  const credentialFunctions = catalog.filter(([, declaration]) => declaration.bind.agentCredentials === true);

  it('the catalog uses both kinds (the tests below are not vacuous)', () => {
    expect(agentQueueFunctions.length).toBeGreaterThan(0);
    expect(credentialFunctions.length).toBeGreaterThan(0);
  });

  it("the queue prefix belongs to the stage and leaves room for an agent id in SQS's 80 characters", () => {
    const prefix = synthesized.stateless.agentQueuePrefix;
    expect(prefix).toBe('Latchkey-test-Agent-');
    expect(prefix).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
    expect(`${prefix}agt_${'0'.repeat(32)}`.length).toBeLessThanOrEqual(80);
    // the longest stage still fits
    expect(agentQueuePrefixOf('a'.repeat(20)).length).toBeLessThanOrEqual(40);
  });

  it("no stage's queue prefix covers another stage's queues", () => {
    const stages = ['dev', 'dev-agent', 'dev-agent-x', 'prod', 'prod2', 'a', 'a-b'];
    for (const a of stages) {
      for (const b of stages) {
        if (a === b) continue;
        const queueOfB = `${agentQueuePrefixOf(b)}agt_${'f'.repeat(32)}`;
        expect(queueOfB.startsWith(agentQueuePrefixOf(a)), `${a} covers ${b}`).toBe(false);
      }
    }
  });

  it.each(agentQueueFunctions)('%s: the queue prefix and the agent timing settings (defaults 30 s / 10 s / 5 s)', (name) => {
    expect(variablesOf(name)).toMatchObject({
      AGENT_QUEUE_PREFIX: synthesized.stateless.agentQueuePrefix,
      AGENT_ONLINE_SECONDS: '30',
      AGENT_HEARTBEAT_SECONDS: '10',
      AGENT_ACK_SECONDS: '5',
    });
  });

  it('creates ONE agent role', () => {
    const { stateless, statelessTemplate } = synthesized;
    expect(stateless.agentRole).toBeDefined();
    resourceMatches(statelessTemplate, logicalId(stateless, stateless.agentRole!), { Type: 'AWS::IAM::Role' });
  });

  it.each(credentialFunctions)('%s: AGENT_ROLE_ARN is the agent role of this stack', (name) => {
    const { stateless } = synthesized;
    expect(variablesOf(name).AGENT_ROLE_ARN).toEqual({ 'Fn::GetAtt': [logicalId(stateless, stateless.agentRole!), 'Arn'] });
  });

  it('takes the agent timing settings from the CDK context (`-c` gives strings)', () => {
    // Prepare: no bundling, no nag; only the environment matters here
    const app = new App({
      context: { ...projectContext(), 'aws:cdk:bundling-stacks': [], agentOnlineSeconds: '120', agentHeartbeatSeconds: 40, agentAckSeconds: '8' },
      builtinCloudFormationValidation: false,
    });
    // Act
    const { stateless } = buildLatchkey(app, { stage: 'ctx', nag: false, mailFrom: TEST_MAIL_FROM });
    // Assess
    const [name] = agentQueueFunctions[0]!;
    const id = logicalId(stateless, stateless.functions[name]);
    const variables = Template.fromStack(stateless).toJSON().Resources[id].Properties.Environment.Variables;
    expect(variables).toMatchObject({ AGENT_QUEUE_PREFIX: 'Latchkey-ctx-Agent-', AGENT_ONLINE_SECONDS: '120', AGENT_HEARTBEAT_SECONDS: '40', AGENT_ACK_SECONDS: '8' });
  });

  it.each([
    [{ agentOnlineSeconds: 'soon' }, /agentOnlineSeconds "soon"/],
    [{ agentHeartbeatSeconds: 0 }, /agentHeartbeatSeconds "0"/],
    [{ agentAckSeconds: 2 }, /agentAckSeconds \(2\) must be at least 3/],
    [{ agentOnlineSeconds: 30, agentHeartbeatSeconds: 30 }, /must be shorter/],
  ] as const)('refuses agent timing context %j', (context, error) => {
    const app = new App({ context: { ...projectContext(), ...context } });
    expect(() => buildLatchkey(app, { stage: 'bad', nag: false, mailFrom: TEST_MAIL_FROM })).toThrow(error);
  });

  it.each([
    [undefined, /No sender for approval mail: set "mailFrom" in the context of cdk.json/],
    ['latchkey@example.com', /example\.com is a placeholder that SES can never verify/],
    ['Latchkey <ops@mail.example.org>', /example\.org is a placeholder/],
    ['nobody', /has no domain/],
  ] as const)('refuses to synthesize without a real mail sender: %s', (mailFrom, error) => {
    const app = new App({ context: { ...projectContext(), 'aws:cdk:bundling-stacks': [], ...(mailFrom ? { mailFrom } : {}) } });
    expect(() => buildLatchkey(app, { stage: 'mail', nag: false })).toThrow(error);
  });

  it('takes the mail sender from the cdk.json context', () => {
    const app = new App({ context: { ...projectContext(), 'aws:cdk:bundling-stacks': [], mailFrom: 'Latchkey <approvals@mail.acme.io>' }, builtinCloudFormationValidation: false });
    const { stateless } = buildLatchkey(app, { stage: 'mail', nag: false });
    const [name] = (Object.entries(functions) as [FunctionName, FunctionDeclaration][]).find(([, d]) => d.bind.mail)!;
    const variables = Template.fromStack(stateless).toJSON().Resources[logicalId(stateless, stateless.functions[name])].Properties.Environment.Variables;
    expect(variables.MAIL_FROM).toBe('Latchkey <approvals@mail.acme.io>');
  });
});
