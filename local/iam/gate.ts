import { isWildcardOnlyAction, runSimulation, runUnsafeSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import { LOCAL_ACCOUNT } from '../lambda-runtime.ts';
import type { PolicyDocument } from './local-model.ts';

/** Who signs with an access key: a role, and the session name of its caller (a function's name). */
export type Principal = { roleArn: string; sessionName: string; policies: PolicyDocument[] };

export type Decision = { allowed: true } | { allowed: false; message: string };

/**
 * Step Functions lists SendTaskSuccess/Failure/Heartbeat with no resource type, so the IAM
 * simulator accepts them only on "*"; the service itself evaluates them against the state
 * machine of the token's execution (its AccessDenied names `…:stateMachine:<name>`, and grants
 * on that ARN work: aws/aws-cdk#8486). These are evaluated against that ARN, as the service does.
 */
const EVALUATED_ON_THEIR_RESOURCE = new Set(['states:sendtasksuccess', 'states:sendtaskfailure', 'states:sendtaskheartbeat']);

const callerArn = (principal: Principal) =>
  `arn:aws:sts::${LOCAL_ACCOUNT}:assumed-role/${principal.roleArn.split('/').pop()}/${principal.sessionName}`;

/**
 * Decides AWS calls the way IAM would for the identity policies of the caller's role, with
 * `@cloud-copilot/iam-simulate` (a dev dependency: AGPL, never shipped). Decisions are kept per
 * (principal, action, resource): the policies do not change while the stack runs.
 */
export class IamGate {
  private readonly decisions = new Map<string, Promise<Decision>>();

  constructor(private readonly principals: ReadonlyMap<string, Principal>) {}

  /** The principal of an access key id, or undefined for the stack's own (unrestricted) key. */
  principalOf(accessKeyId: string | undefined): Principal | undefined {
    return accessKeyId === undefined ? undefined : this.principals.get(accessKeyId);
  }

  check(principal: Principal, action: string, resource: string): Promise<Decision> {
    const key = `${principal.roleArn}\n${action}\n${resource}`;
    let decision = this.decisions.get(key);
    if (!decision) {
      decision = this.decide(principal, action, resource);
      this.decisions.set(key, decision);
    }
    return decision;
  }

  private async decide(principal: Principal, action: string, resource: string): Promise<Decision> {
    const simulation: Simulation = {
      identityPolicies: principal.policies.map((policy, i) => ({ name: `policy${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: { action, principal: principal.roleArn, resource: { resource, accountId: LOCAL_ACCOUNT }, contextVariables: {} },
    };
    const [service, name] = action.toLowerCase().split(':') as [string, string];
    let result: string;
    if (resource !== '*' && EVALUATED_ON_THEIR_RESOURCE.has(action.toLowerCase()) && (await isWildcardOnlyAction(service, name))) {
      result = runUnsafeSimulation(simulation, {});
    } else {
      const response = await runSimulation(simulation, {});
      // A request the simulator cannot evaluate is refused loudly rather than let through.
      if (response.resultType === 'error') {
        return { allowed: false, message: `The local IAM simulation of ${action} on ${resource} failed: ${JSON.stringify(response.errors)}` };
      }
      result = response.overallResult;
    }
    if (result === 'Allowed') return { allowed: true };
    const why = result === 'ExplicitlyDenied' ? 'with an explicit deny in an identity-based policy' : `because no identity-based policy allows the ${action} action`;
    return { allowed: false, message: `User: ${callerArn(principal)} is not authorized to perform: ${action} on resource: ${resource} ${why}` };
  }
}
