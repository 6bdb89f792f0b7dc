import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { Construct } from 'constructs';
import { bundlingSettings, externalModules } from '../bundling.ts';
import {
  acknowledgeAgentQueuesWildcard,
  agentQueueManageActions,
  agentQueueSendActions,
  agentQueuesArn,
  type AgentRole,
} from './agent-access.ts';
import type { DeclaredBucket, DeclaredQueue, DeclaredStateMachine, DeclaredTable } from './declared.ts';

/** Read-only: get, batch get, query (tables and their declared indexes). */
const tableReadActions = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'];
/** Single-item writes; no `Scan` and no transactions anywhere (DESIGN §3, §7). */
const tableWriteActions = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];

/** Properties of {@link LatchkeyFunction}. */
export interface LatchkeyFunctionProps {
  /** Handler file (absolute, or relative to the working directory); it exports `handler`. */
  readonly entry: string;
  /** The dependencies layer; its packages are left out of the bundle. */
  readonly dependenciesLayer: lambda.ILayerVersion;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default - none */
  readonly description?: string;
  /** Extra environment variables; bindings add their own. @default - none */
  readonly environment?: Record<string, string>;
  /** Retention of the function's own log group. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the log group when the function goes away. Logs are diagnostics, the audit
   * trail lives in DynamoDB, so they go with the stack by default.
   * @default RemovalPolicy.DESTROY
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Directory holding `package-lock.json` and the handler sources. @default process.cwd() */
  readonly projectRoot?: string;
}

/**
 * The ONE Lambda function construct: Node.js 24 on arm64, X-Ray active tracing, its own log
 * group, source maps, ESM esbuild bundle with the dependencies layer attached and external, and
 * its own role that starts with nothing but writing to its log group. Access to data comes only
 * through the `bindX()` helpers, each of which sets the environment variable the handler reads
 * and grants the least privilege that the access mode needs.
 */
export class LatchkeyFunction extends NodejsFunction {
  /** The function's own role (no managed policies). */
  public readonly executionRole: iam.Role;

  constructor(scope: Construct, id: string, props: LatchkeyFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
    // Our own role instead of AWSLambdaBasicExecutionRole, whose log permissions are on "*".
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}`,
    });
    logGroup.grantWrite(role);
    // Active tracing makes CDK add xray:PutTraceSegments/PutTelemetryRecords to this role; X-Ray
    // has no resource-level permissions for them, so AWS requires "*".
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions; active tracing needs "*".',
    });

    super(scope, id, {
      entry: props.entry,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      tracing: lambda.Tracing.ACTIVE,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(10),
      description: props.description,
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      layers: [props.dependenciesLayer],
      projectRoot: props.projectRoot,
      environment: {
        POWERTOOLS_SERVICE_NAME: 'latchkey',
        POWERTOOLS_METRICS_NAMESPACE: 'Latchkey',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        minify: bundlingSettings.minify,
        sourceMap: bundlingSettings.sourceMap,
        sourcesContent: bundlingSettings.sourcesContent,
        mainFields: [...bundlingSettings.mainFields],
        target: bundlingSettings.target,
        banner: bundlingSettings.banner,
        externalModules: externalModules({ withLayer: true }),
        // esbuild's per-bundle size table would drown `cdk synth --quiet`; warnings still show
        logLevel: LogLevel.WARNING,
      },
    });
    this.executionRole = role;
  }

  /** Reads (`RO`) or reads and writes single items (`RW`) of a table and its declared indexes. */
  public bindTable({ table, accessMode }: { table: DeclaredTable; accessMode: 'RO' | 'RW' }): this {
    this.addEnvironment(table.envVar, table.table.tableName);
    const actions = accessMode === 'RW' ? [...tableReadActions, ...tableWriteActions] : tableReadActions;
    // Index ARNs are named one by one rather than `index/*`: only declared indexes are readable.
    const indexArns = table.indexNames.map((index) => `${table.table.tableArn}/index/${index}`);
    this.addToRolePolicy(new iam.PolicyStatement({ actions, resources: [table.table.tableArn] }));
    if (indexArns.length > 0) {
      this.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: indexArns }));
    }
    return this;
  }

  /** Sends messages to a queue. */
  public bindQueue({ queue, access }: { queue: DeclaredQueue; access: 'send' }): this {
    this.addEnvironment(queue.envVar, queue.queue.queueUrl);
    if (access === 'send') {
      this.addToRolePolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queue.queueArn] }));
    }
    return this;
  }

  /**
   * Reads (`read`) or reads and writes (`readwrite`) objects; presigned URLs act with the
   * function's own permissions, so presigning an upload needs `readwrite`.
   */
  public bindBucket({ bucket, access }: { bucket: DeclaredBucket; access: 'read' | 'readwrite' }): this {
    this.addEnvironment(bucket.envVar, bucket.bucket.bucketName);
    const actions = access === 'readwrite' ? ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'] : ['s3:GetObject'];
    const objects = bucket.bucket.arnForObjects('*');
    this.addToRolePolicy(new iam.PolicyStatement({ actions, resources: [objects] }));
    // Without ListBucket, S3 answers a read of a missing object with 403 AccessDenied instead of
    // 404 NotFound, and "not uploaded yet" would be indistinguishable from a broken grant.
    this.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucket.bucketArn] }));
    // Object keys are made at run time (account/application/release ids), so the grant names
    // this bucket's objects with a wildcard, which cdk-nag reports as IAM5. Its finding id
    // embeds the resource as the template will read it — for a bucket of the stateful stack,
    // a cross-stack reference that exists only once the app is prepared. Tree validation runs
    // after preparation and before the cdk-nag plugin, so the acknowledgement is made there,
    // with the id flattened exactly as cdk-nag flattens it.
    const role = this.executionRole;
    this.node.addValidation({
      validate: () => {
        const resolved: unknown = Stack.of(role).resolve(objects);
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${flattenCfnReference(resolved)}]`,
          reason: 'Release object keys are generated per account/application/release; the grant is limited to this one bucket.',
        });
        return [];
      },
    });
    return this;
  }

  /** Starts executions (`start`) or answers task tokens (`respond`) of a state machine. */
  public bindStateMachine({
    stateMachine,
    access,
  }: {
    stateMachine: DeclaredStateMachine;
    access: 'start' | 'respond';
  }): this {
    if (access === 'start') {
      this.addEnvironment(stateMachine.envVar, stateMachine.stateMachine.stateMachineArn);
      stateMachine.stateMachine.grantStartExecution(this);
      return this;
    }
    // Answering a task token needs only the token, so no environment variable; and the grant
    // goes in a policy of its own, which the function does not depend on. A workflow task that
    // ends its own wait (its ARN is in the definition) then forms no reference cycle.
    new iam.Policy(this, `Respond${stateMachine.stateMachine.node.id}`, {
      roles: [this.role!],
      statements: [
        new iam.PolicyStatement({
          actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
          resources: [stateMachine.stateMachine.stateMachineArn],
        }),
      ],
    });
    return this;
  }

  /**
   * Sends to (`send`), or also creates and deletes (`manage`), the per-agent request queues: the
   * queues are created at enrolment, so the grant names this deployment's queue-name prefix with
   * a wildcard (and acknowledges cdk-nag's IAM5 finding for exactly that ARN).
   */
  public bindAgentQueues({ prefix, access }: { prefix: string; access: 'send' | 'manage' }): this {
    const queuesArn = agentQueuesArn(this, prefix);
    this.addEnvironment('AGENT_QUEUE_PREFIX', prefix);
    const actions = access === 'manage' ? agentQueueManageActions : agentQueueSendActions;
    this.addToRolePolicy(new iam.PolicyStatement({ actions: [...actions], resources: [queuesArn] }));
    acknowledgeAgentQueuesWildcard(
      this.executionRole,
      queuesArn,
      'Agent queues are created at run time when an agent enrols (prefix + agent id); the grant is limited to the queue-name prefix this deployment owns.',
    );
    return this;
  }

  /**
   * Hands agents short-lived credentials: may assume exactly the agent role (which must trust
   * this function's role), whose ARN it reads from AGENT_ROLE_ARN.
   */
  public bindAgentCredentials({ agentRole }: { agentRole: AgentRole }): this {
    this.addEnvironment('AGENT_ROLE_ARN', agentRole.roleArn);
    this.addToRolePolicy(new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: [agentRole.roleArn] }));
    return this;
  }

  /**
   * Knows the API's public URL (PUBLIC_API_URL), whose origin its pages' passkeys are bound to:
   * an environment variable and no permission.
   */
  public bindPublicUrl({ publicApiUrl }: { publicApiUrl: string }): this {
    this.addEnvironment('PUBLIC_API_URL', publicApiUrl);
    return this;
  }

  /**
   * Sends email from `from` through SES, with links to `publicApiUrl`: the permission is
   * limited to the sender's domain identity.
   */
  public bindMail({ from, publicApiUrl }: { from: string; publicApiUrl: string }): this {
    const domain = /@([^>\s]+)>?$/.exec(from)?.[1];
    if (!domain) throw new Error(`${this.node.path}: mail sender "${from}" has no domain`);
    this.addEnvironment('MAIL_FROM', from);
    this.bindPublicUrl({ publicApiUrl });
    this.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ses:SendEmail'],
        resources: [Stack.of(this).formatArn({ service: 'ses', resource: 'identity', resourceName: domain })],
      }),
    );
    return this;
  }

  /**
   * Consumes a queue in batches with partial batch failures: only the failed messages return
   * to the queue (and, after `maxReceiveCount`, to its dead-letter queue).
   */
  public consumeQueue({ queue, batchSize }: { queue: DeclaredQueue; batchSize: number }): this {
    const timeout = this.timeout?.toSeconds() ?? 3;
    if (queue.visibilityTimeout.toSeconds() < timeout) {
      // A message would become visible again while its batch is still being processed.
      throw new Error(
        `${this.node.path}: queue visibility (${queue.visibilityTimeout.toSeconds()} s) is shorter than the function timeout (${timeout} s)`,
      );
    }
    this.addEventSource(new SqsEventSource(queue.queue, { batchSize, reportBatchItemFailures: true }));
    return this;
  }
}
