import type { FunctionDeclaration } from '../../functions/catalog.ts';
import { buckets, queues, stateMachines, tables } from '../../functions/resources.ts';

/**
 * The environment a function gets in AWS: what the CDK construct sets for every function, plus one
 * variable per binding (placeholder values of the right shape), and nothing else, so a module
 * that reads configuration at load time loads here exactly as it would there.
 */
export const boundEnvironment = (declaration: FunctionDeclaration): Record<string, string> => {
  const { bind } = declaration;
  const env: Record<string, string> = {
    AWS_REGION: 'us-east-1',
    POWERTOOLS_SERVICE_NAME: 'latchkey',
    POWERTOOLS_METRICS_NAMESPACE: 'Latchkey',
    NODE_OPTIONS: '--enable-source-maps',
    AGENT_ONLINE_SECONDS: '30',
    AGENT_HEARTBEAT_SECONDS: '10',
    AGENT_ACK_SECONDS: '5',
  };
  const named = <K extends string>(declared: Record<K, { envVar: string }>, keys: Iterable<string>, value: (key: string) => string) => {
    for (const key of keys) env[declared[key as K].envVar] = value(key);
  };
  named(tables, Object.keys(bind.tables ?? {}), (t) => `latchkey-${t}`);
  named(queues, Object.keys(bind.queues ?? {}), (q) => `https://sqs.us-east-1.amazonaws.com/000000000000/${q}`);
  named(buckets, Object.keys(bind.buckets ?? {}), (b) => `latchkey-${b}`);
  const started = Object.entries(bind.stateMachines ?? {}).filter(([, access]) => access === 'start').map(([machine]) => machine);
  named(stateMachines, started, (m) => `arn:aws:states:us-east-1:000000000000:stateMachine:${m}`);
  if (bind.mail) Object.assign(env, { MAIL_FROM: 'Latchkey <latchkey@example.com>', PUBLIC_API_URL: 'https://api.example.com' });
  if (bind.agentQueues) env.AGENT_QUEUE_PREFIX = 'latchkey-agent-';
  if (bind.agentCredentials) env.AGENT_ROLE_ARN = 'arn:aws:iam::000000000000:role/agent';
  return env;
};
