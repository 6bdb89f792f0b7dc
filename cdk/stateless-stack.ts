import { join } from 'node:path';
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { functions, type FunctionDeclaration, type FunctionName } from '../functions/catalog.ts';
import { routes } from '../functions/api/routes.ts';
import { queues, type QueueDeclaration, type QueueName } from '../functions/resources.ts';
import { AgentRole, validateAgentQueuePrefix } from './constructs/agent-access.ts';
import { Api } from './constructs/api.ts';
import { DependenciesLayer } from './constructs/dependencies-layer.ts';
import { LatchkeyFunction } from './constructs/latchkey-function.ts';
import { Workflow } from './constructs/workflow.ts';
import type { StatefulStack } from './stateful-stack.ts';

/** Properties of {@link StatelessStack}. */
export interface StatelessStackProps extends StackProps {
  /** The stateful resources the functions bind to. */
  readonly stateful: StatefulStack;
  /** Repository root: handler entries and ASL files are resolved against it. */
  readonly projectRoot: string;
  /** Prebuilt dependencies layer directory. @default - built from node_modules if needed */
  readonly layerDirectory?: string;
  /** Sender address of approval emails; its domain must be a verified SES identity. */
  readonly mailFrom: string;
  /**
   * Prefix of the per-agent request queue names (`<prefix><agent id>`), owned by this
   * deployment: the agent-queue grants are scoped to it. At most 40 characters.
   * @default `${stackName}-agent-`
   */
  readonly agentQueuePrefix?: string;
  /** AGENT_ONLINE_SECONDS of every function. @default 30 */
  readonly agentOnlineSeconds?: number;
  /** AGENT_HEARTBEAT_SECONDS of every function. @default 10 */
  readonly agentHeartbeatSeconds?: number;
  /** AGENT_ACK_SECONDS of every function: how soon a key server must take a request. @default 5 */
  readonly agentAckSeconds?: number;
  /** The functions and their bindings. @default - functions/catalog.ts */
  readonly catalog?: Record<string, FunctionDeclaration>;
}

const pascal = (name: string): string =>
  name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

/**
 * What is code: one `LatchkeyFunction` per catalog entry, bound to the stateful resources as the
 * catalog says; the HTTP API from the route table; the queue consumers; the state machines.
 */
export class StatelessStack extends Stack {
  public readonly functions: Record<FunctionName, LatchkeyFunction>;
  public readonly api: Api;
  public readonly workflow: Workflow;
  /** Prefix of the per-agent request queue names. */
  public readonly agentQueuePrefix: string;
  /** The role agents' credentials come from; only when a function binds `agentCredentials`. */
  public readonly agentRole?: AgentRole;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { stateful, projectRoot } = props;
    const layer = new DependenciesLayer(this, 'DependenciesLayer', { directory: props.layerDirectory });

    // 1. one function per catalog entry
    const catalog = (props.catalog ?? functions) as Record<FunctionName, FunctionDeclaration>;
    const created = {} as Record<FunctionName, LatchkeyFunction>;
    for (const [name, declaration] of Object.entries(catalog) as [FunctionName, FunctionDeclaration][]) {
      created[name] = new LatchkeyFunction(this, `${pascal(name)}Function`, {
        entry: join(projectRoot, declaration.entry),
        projectRoot,
        dependenciesLayer: layer,
        description: `Latchkey ${name}`,
        timeout: declaration.timeoutSeconds === undefined ? undefined : Duration.seconds(declaration.timeoutSeconds),
        memorySize: declaration.memoryMb,
      });
    }
    this.functions = created;

    // 2. the state machines (their definitions name functions, so they come after them)
    this.workflow = new Workflow(this, 'Workflow', { functions: created, projectRoot, alarmTopic: stateful.alarms });

    // 3. the agent role: trusts exactly the roles of the functions that hand out credentials
    this.agentQueuePrefix = validateAgentQueuePrefix(props.agentQueuePrefix ?? `${this.stackName}-agent-`);
    const credentialIssuers = (Object.entries(catalog) as [FunctionName, FunctionDeclaration][])
      .filter(([, declaration]) => declaration.bind.agentCredentials === true)
      .map(([name]) => created[name]);
    const agentRole =
      credentialIssuers.length === 0
        ? undefined
        : new AgentRole(this, 'AgentRole', {
            queuePrefix: this.agentQueuePrefix,
            replyQueue: stateful.agents.queues.agentReplies,
            assumedBy: credentialIssuers.map((fn) => fn.executionRole),
          });
    this.agentRole = agentRole;

    // 4. bindings: environment variable + least-privilege grant per catalog binding
    for (const [name, declaration] of Object.entries(catalog) as [FunctionName, FunctionDeclaration][]) {
      const fn = created[name];
      const bind = declaration.bind;
      for (const [table, accessMode] of entries(bind.tables)) {
        fn.bindTable({ table: stateful.data.tables[table], accessMode });
      }
      // Every function that judges whether an agent is online must judge it alike.
      fn.addEnvironment('AGENT_ONLINE_SECONDS', String(props.agentOnlineSeconds ?? 30));
      fn.addEnvironment('AGENT_HEARTBEAT_SECONDS', String(props.agentHeartbeatSeconds ?? 10));
      fn.addEnvironment('AGENT_ACK_SECONDS', String(props.agentAckSeconds ?? 5));
      for (const [queue, access] of entries(bind.queues)) {
        fn.bindQueue({ queue: stateful.agents.queues[queue], access });
      }
      for (const [bucket, access] of entries(bind.buckets)) {
        fn.bindBucket({ bucket: stateful.releases.buckets[bucket], access });
      }
      for (const [machine, access] of entries(bind.stateMachines)) {
        fn.bindStateMachine({ stateMachine: this.workflow.stateMachines[machine], access });
      }
      if (bind.agentQueues !== undefined) {
        fn.bindAgentQueues({ prefix: this.agentQueuePrefix, access: bind.agentQueues });
      }
      if (bind.agentCredentials === true) fn.bindAgentCredentials({ agentRole: agentRole! });
    }

    // 5. queue consumers
    const queueDeclarations: Record<QueueName, QueueDeclaration> = queues;
    for (const [queue, declaration] of Object.entries(queueDeclarations) as [QueueName, QueueDeclaration][]) {
      if (declaration.consumer === undefined) continue;
      const consumer = created[declaration.consumer as FunctionName];
      if (consumer === undefined) throw new Error(`queue ${queue}: unknown consumer ${declaration.consumer}`);
      consumer.consumeQueue({ queue: stateful.agents.queues[queue], batchSize: declaration.batchSize });
    }

    // 6. the HTTP API
    this.api = new Api(this, 'Api', { routes, functions: created });

    // 7. mail and the API's own URL: after the API, since links and passkey origins name it
    for (const [name, declaration] of Object.entries(catalog) as [FunctionName, FunctionDeclaration][]) {
      if (declaration.bind.mail) created[name].bindMail({ from: props.mailFrom, publicApiUrl: this.api.url });
      else if (declaration.bind.publicUrl) created[name].bindPublicUrl({ publicApiUrl: this.api.url });
    }
    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the Latchkey HTTP API' });
  }
}

/** Typed entries of an optional binding record. */
const entries = <K extends string, V>(record: Partial<Record<K, V>> | undefined): [K, V][] =>
  Object.entries(record ?? {}) as [K, V][];
