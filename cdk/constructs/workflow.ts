import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { FunctionName } from '../../functions/catalog.ts';
import { PARTITION_SUBSTITUTION, stateMachines, type StateMachineDeclaration, type StateMachineName } from '../../functions/resources.ts';
import type { DeclaredStateMachine } from './declared.ts';

/** Properties of {@link Workflow}. */
export interface WorkflowProps {
  /** The function of each catalog name; substitutions resolve to their ARNs. */
  readonly functions: Record<FunctionName, lambda.IFunction>;
  /** Repository root, against which `definitionFile` is resolved. */
  readonly projectRoot: string;
  /** Retention of the execution logs. @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** Where alarms are sent. @default - alarms without actions */
  readonly alarmTopic?: sns.ITopic;
}

const pascal = (name: string): string => name.charAt(0).toUpperCase() + name.slice(1);

/**
 * The state machines declared in `functions/resources.ts`, each from its one ASL file (the
 * same file the local stack interprets) with `definitionSubstitutions` turning `${Key}` into
 * the ARN of the declared function. Standard type, X-Ray tracing, execution logs at level ALL
 * without execution data (inputs carry task tokens). The role may invoke exactly the
 * substituted functions.
 */
export class Workflow extends Construct {
  public readonly stateMachines: Record<StateMachineName, DeclaredStateMachine>;

  constructor(scope: Construct, id: string, props: WorkflowProps) {
    super(scope, id);
    const created = {} as Record<StateMachineName, DeclaredStateMachine>;
    const declarations: Record<StateMachineName, StateMachineDeclaration> = stateMachines;
    for (const [name, declaration] of Object.entries(declarations) as [StateMachineName, StateMachineDeclaration][]) {
      const definitionFile = join(props.projectRoot, declaration.definitionFile);
      const definition = readFileSync(definitionFile, 'utf8');
      // The partition of the stack's region: the definition never says `arn:aws:` itself.
      const substitutions: Record<string, string> = definition.includes(`\${${PARTITION_SUBSTITUTION}}`) ? { [PARTITION_SUBSTITUTION]: Aws.PARTITION } : {};
      const invoked: string[] = [];
      for (const [key, functionName] of Object.entries(declaration.functionSubstitutions)) {
        if (!definition.includes(`\${${key}}`)) {
          throw new Error(`${declaration.definitionFile} never uses the substitution \${${key}}`);
        }
        const fn = props.functions[functionName as FunctionName];
        if (fn === undefined) throw new Error(`${declaration.definitionFile}: \${${key}} names unknown function ${functionName}`);
        substitutions[key] = fn.functionArn;
        invoked.push(fn.functionArn);
      }
      const logGroup = new logs.LogGroup(this, `${pascal(name)}Logs`, {
        // Step Functions delivers logs as a vended log source: under /aws/vendedlogs/ its
        // resource policy stays within CloudWatch Logs' size limit however many machines log.
        logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-${name}`,
        retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const stateMachine = new sfn.StateMachine(this, `${pascal(name)}StateMachine`, {
        // Inline, so the template shows the definition and deploys without an asset upload.
        definitionBody: sfn.DefinitionBody.fromString(definition),
        definitionSubstitutions: substitutions,
        stateMachineType: sfn.StateMachineType.STANDARD,
        tracingEnabled: true,
        logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      });
      // With tracing and logging, CDK grants X-Ray writes and CloudWatch Logs vended-log delivery
      // (CreateLogDelivery, PutResourcePolicy, DescribeLogGroups, ...), none of which supports
      // resource-level permissions.
      Validations.of(stateMachine).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray writes and CloudWatch Logs log-delivery actions support no resource-level permissions; Step Functions logging and tracing need "*".',
      });
      if (invoked.length > 0) {
        // The unqualified ARNs only (not `:*`): the definition invokes $LATEST of each function.
        stateMachine.addToRolePolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: invoked }));
      }
      // An execution that fails has left a deployment it could not even settle (its last Catch).
      const failed = new cloudwatch.Alarm(this, `${pascal(name)}ExecutionsFailedAlarm`, {
        alarmDescription: `Latchkey: a ${name} workflow execution failed; a deployment may be left unsettled (see the execution history)`,
        metric: stateMachine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (props.alarmTopic) failed.addAlarmAction(new cloudwatchActions.SnsAction(props.alarmTopic));
      created[name] = { stateMachine, envVar: declaration.envVar };
    }
    this.stateMachines = created;
  }
}
