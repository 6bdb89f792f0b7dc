import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import { Construct, type IConstruct } from 'constructs';
import type { DeclaredQueue } from './declared.ts';

/**
 * Access to the per-agent request queues of DESIGN §6. The backend creates one queue per agent
 * at enrolment, named `<prefix><agent id>` (agent ids are `agt_` + 32 hex), so no grant can name
 * them one by one: grants name this deployment's prefix with a trailing wildcard instead.
 */

/** What a function bound with `agentQueues: 'send'` may do on the agent queues. */
export const agentQueueSendActions = ['sqs:SendMessage', 'sqs:GetQueueUrl'] as const;
/** `agentQueues: 'manage'`: also create the queue of an enrolling agent and delete a removed one's. */
export const agentQueueManageActions = [
  ...agentQueueSendActions,
  'sqs:CreateQueue',
  'sqs:DeleteQueue',
  'sqs:GetQueueAttributes',
  'sqs:SetQueueAttributes',
  'sqs:TagQueue',
] as const;
/** What the agent role may do on the agent queues; each session narrows it to one queue. */
export const agentRoleQueueActions = [
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:GetQueueAttributes',
] as const;
/** What the agent role may do on the shared reply queue. */
export const agentRoleReplyActions = ['sqs:SendMessage'] as const;

/** SQS queue names: at most 80 characters; agent ids take 36 (`agt_` + 32 hex). */
const maxPrefixLength = 80 - 36 - 4;

/** Throws unless `prefix` can start an SQS queue name and leaves room for an agent id. */
export const validateAgentQueuePrefix = (prefix: string): string => {
  if (!/^[A-Za-z0-9_-]+$/.test(prefix) || prefix.length > maxPrefixLength) {
    throw new Error(`agent queue prefix "${prefix}": use 1-${maxPrefixLength} letters, digits, - or _`);
  }
  return prefix;
};

/** `arn:<partition>:sqs:<region>:<account>:<prefix>*`: the agent queues of one deployment. */
export const agentQueuesArn = (scope: IConstruct, prefix: string): string =>
  Stack.of(scope).formatArn({ service: 'sqs', resource: `${validateAgentQueuePrefix(prefix)}*` });

/**
 * Acknowledges the cdk-nag `AwsSolutions-IAM5` finding of a grant on {@link agentQueuesArn}, with
 * the exact finding id (the ARN flattened as cdk-nag flattens it), on the role that holds it.
 */
export const acknowledgeAgentQueuesWildcard = (role: IConstruct, queuesArn: string, reason: string): void => {
  const flattened = flattenCfnReference(Stack.of(role).resolve(queuesArn));
  Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flattened}]`, reason });
};

/** Properties of {@link AgentRole}. */
export interface AgentRoleProps {
  /** The prefix of this deployment's agent queue names. */
  readonly queuePrefix: string;
  /** The shared reply queue agents answer on. */
  readonly replyQueue: DeclaredQueue;
  /** The roles that hand out agent credentials; nobody else may assume this role. */
  readonly assumedBy: readonly iam.IRole[];
}

/**
 * The role agents' short-lived credentials are issued from (`sts:AssumeRole` with a session
 * policy naming one agent's queue, see shared/domain/agents/session-policy.ts). Its own policy
 * is the ceiling of every such session: take requests off this deployment's agent queues, and
 * put replies on the reply queue. Only the given function roles may assume it, for at most an
 * hour.
 */
export class AgentRole extends iam.Role {
  /** `arn:…:sqs:…:<prefix>*`, the resource of the agent queue statement. */
  public readonly queuesArn: string;

  constructor(scope: Construct, id: string, props: AgentRoleProps) {
    const [first, ...others] = props.assumedBy;
    if (first === undefined) throw new Error(`${id}: no role may assume the agent role`);
    const queuesArn = agentQueuesArn(scope, props.queuePrefix);
    super(scope, id, {
      description: 'Short-lived credentials of Latchkey agents: their own request queue and the reply queue',
      // The function roles themselves (their ARNs), never an account or "*".
      assumedBy: others.length === 0 ? first : new iam.CompositePrincipal(first, ...others),
      maxSessionDuration: Duration.hours(1),
      inlinePolicies: {
        AgentQueues: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({ actions: [...agentRoleQueueActions], resources: [queuesArn] }),
            new iam.PolicyStatement({ actions: [...agentRoleReplyActions], resources: [props.replyQueue.queue.queueArn] }),
          ],
        }),
      },
    });
    this.queuesArn = queuesArn;
    acknowledgeAgentQueuesWildcard(
      this,
      queuesArn,
      "Agent queues are created at enrolment (prefix + agent id), so the role's ceiling names this deployment's prefix; each session policy narrows it to the one agent's queue.",
    );
  }
}
