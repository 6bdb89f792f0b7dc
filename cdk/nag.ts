import { Validations } from 'aws-cdk-lib';
import type { PolicyViolation } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag 3.x is a policy-validation plugin, not an Aspect (DESIGN §7): it runs after synthesis
 * over the whole construct tree and fails `cdk synth` on any finding that no
 * `Validations.of(scope).acknowledge({ id, reason })` covers. Acknowledgements live next to the
 * construct that causes them, each with the exact finding id and a reason:
 *
 * - `AwsSolutions-IAM5[Resource::*]` on each function's role (X-Ray tracing needs "*");
 * - `AwsSolutions-IAM5[Resource::*]` on each state machine (X-Ray and log delivery need "*");
 * - `AwsSolutions-APIG4` on each HTTP route (bearer tokens are checked in the handlers);
 * - `AwsSolutions-S1` on the access-log bucket (it does not log to itself);
 * - `AwsSolutions-IAM5[Resource::<bucket ARN>/*]` made by `bindBucket` (object keys are
 *   generated at run time);
 * - `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:<prefix>*]`
 *   on the role of each function bound to `agentQueues` and on the `AgentRole` (the per-agent
 *   queues are created at enrolment as `<prefix><agent id>`; the prefix belongs to this
 *   deployment, and each agent's session policy narrows the role to its own queue).
 *
 * test/cdk/nag.test.ts pins this list, so a new acknowledgement is a reviewed change.
 */
export const addNagChecks = (app: IConstruct): void => {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
};

/**
 * The unacknowledged AwsSolutions findings of a scope, for tests. (`Annotations` queries find
 * nothing under cdk-nag 3.x, so they prove nothing.)
 */
export const nagFindings = (scope: IConstruct): PolicyViolation[] =>
  [...new AwsSolutionsChecks().validateScope(scope).violations];
