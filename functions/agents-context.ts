import { makeAgents } from '#shared/domain/agents/agents.ts';
import { makeMasterKeys } from '#shared/domain/agents/master-keys.ts';
import { systemClock } from '#shared/ports/clock.ts';
import type { CredentialIssuer } from '#shared/ports/agent-store.ts';
import { SQSClient } from '@aws-sdk/client-sqs';
import { localCredentials, stsCredentials } from './adapters/agent-credentials.ts';
import { dynamo } from './adapters/aws-clients.ts';
import { dynamoDirectoryStore } from './adapters/dynamo-directory-store.ts';
import { dynamoKeyStore } from './adapters/dynamo-key-store.ts';
import { dynamoReleaseStore } from './adapters/dynamo-release-store.ts';
import { sqsAgentQueues } from './adapters/sqs-agent-queues.ts';
import { tableName } from './config.ts';
import { act, agentStore, audit, statementStore } from './api/directory-context.ts';
import { lazyPort } from './lazy-port.ts';

// The composition root of agents and keys: enrolment, sessions, the master key's life and the
// replies of agents. Settings are read at cold start.
const clock = systemClock;
const setting = (name: string, fallback?: string) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`Missing environment variable ${name}: the function is not bound to it`);
  return value;
};

/** An agent counts as online while its last heartbeat reached us this recently (a few heartbeats). */
export const onlineSeconds = Number(setting('AGENT_ONLINE_SECONDS', '30'));
const heartbeatSeconds = Number(setting('AGENT_HEARTBEAT_SECONDS', '10'));
/** A key server must take a request this soon (its acknowledgement), or the next one is asked. */
const ackSeconds = Number(setting('AGENT_ACK_SECONDS', '5'));
/** A key server that took a master-key request must answer this soon, or the next one is asked. */
const answerSeconds = Number(setting('AGENT_ANSWER_SECONDS', '60'));

// The endpoint, not the queue URL's host, decides where requests go: the same in the cloud,
// and on the local stack, whose queue URLs name a host that does not resolve.
const sqs = new SQSClient({ useQueueUrlAsEndpoint: false });
export const keyStore = lazyPort(() => dynamoKeyStore(dynamo(), tableName('wrappedKeys')));
const queues = lazyPort(() => sqsAgentQueues(sqs, setting('AGENT_QUEUE_PREFIX')));
const releases = lazyPort(() => dynamoReleaseStore(dynamo(), tableName('deployments')));

export const masterKeys = makeMasterKeys({ agents: agentStore, keys: keyStore, queues, releases, audit, clock, settings: { onlineSeconds, ackSeconds, answerSeconds } });

// Only the session route hands out credentials; locally the emulators take any.
const credentials: CredentialIssuer =
  process.env.LATCHKEY_LOCAL_AGENT_CREDENTIALS === 'true'
    ? localCredentials()
    : {
        issue: (agent) =>
          stsCredentials(setting('AGENT_ROLE_ARN'), setting('AGENT_REPLY_QUEUE_URL')).issue(agent),
      };

export const agents = makeAgents({
  directory: dynamoDirectoryStore(dynamo(), tableName('directory')),
  agents: agentStore,
  keys: keyStore,
  queues,
  credentials,
  masterKeys,
  statements: statementStore,
  act,
  clock,
  onlineSeconds,
  heartbeatSeconds,
  replyQueueUrl: process.env.AGENT_REPLY_QUEUE_URL ?? '',
  region: process.env.AWS_REGION ?? 'us-east-1',
  ...(process.env.LATCHKEY_AGENT_SQS_ENDPOINT ? { sqsEndpoint: process.env.LATCHKEY_AGENT_SQS_ENDPOINT } : {}),
});
