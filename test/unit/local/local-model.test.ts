import { beforeAll, describe, expect, it } from 'vitest';
import { functions, type FunctionName } from '#functions/catalog.ts';
import { buckets, queues, stateMachines, tables } from '#functions/resources.ts';
import { readCloudAssembly } from '#local/iam/cloud-assembly.ts';
import { IamGate, type Principal } from '#local/iam/gate.ts';
import { localAssembly } from '#local/iam/local-synth.ts';
import { localModel, type LocalModel } from '#local/iam/local-model.ts';
import { LOCAL_MAIL_FROM } from '#local/stack.ts';

const account = '000000000000';
const region = 'us-east-1';
const queueUrl = (name: string) => `http://sqs.${region}.localhost:4005/${account}/${name}`;
const resources = {
  tables: { directory: 'latchkey-directory', deployments: 'latchkey-deployments', wrappedKeys: 'latchkey-wrapped-keys' },
  buckets: { releases: 'latchkey-releases' },
  queues: {
    agentReplies: {
      url: queueUrl('latchkey-agent-replies'),
      arn: `arn:aws:sqs:${region}:${account}:latchkey-agent-replies`,
      dlqUrl: queueUrl('latchkey-agent-replies-dlq'),
      dlqArn: `arn:aws:sqs:${region}:${account}:latchkey-agent-replies-dlq`,
    },
  },
  stateMachines: { deployment: `arn:aws:states:${region}:${account}:stateMachine:latchkey-deployment` },
  apiUrl: () => 'http://127.0.0.1:4000',
};

let model: LocalModel;
let gate: IamGate;
const principal = (name: FunctionName): Principal => ({ roleArn: model.functions[name].roleArn, sessionName: name, policies: model.functions[name].policies });
const table = (name: string) => `arn:aws:dynamodb:${region}:${account}:table/${name}`;

beforeAll(async () => {
  const dir = await localAssembly({ stage: 'local', mailFrom: LOCAL_MAIL_FROM, agentOnlineSeconds: 90, agentHeartbeatSeconds: 30 });
  model = localModel(readCloudAssembly(dir), resources);
  gate = new IamGate(new Map((Object.keys(functions) as FunctionName[]).map((name) => [name, principal(name)])));
}, 60_000);

/** The variables a binding gives, by kind. */
const boundVariables = (name: FunctionName): string[] => {
  const bind = (functions[name] as { bind: import('#functions/catalog.ts').Bindings }).bind;
  return [
    ...Object.keys(bind.tables ?? {}).map((t) => tables[t as keyof typeof tables].envVar),
    ...Object.keys(bind.queues ?? {}).map((q) => queues[q as keyof typeof queues].envVar),
    ...Object.keys(bind.buckets ?? {}).map((b) => buckets[b as keyof typeof buckets].envVar),
    ...Object.entries(bind.stateMachines ?? {}).filter(([, access]) => access === 'start').map(([m]) => stateMachines[m as keyof typeof stateMachines].envVar),
    ...(bind.mail ? ['MAIL_FROM'] : []),
    ...(bind.mail || bind.publicUrl ? ['PUBLIC_API_URL'] : []),
    ...(bind.agentQueues ? ['AGENT_QUEUE_PREFIX'] : []),
    ...(bind.agentCredentials ? ['AGENT_ROLE_ARN'] : []),
  ].sort();
};

const COMMON = ['AGENT_ACK_SECONDS', 'AGENT_HEARTBEAT_SECONDS', 'AGENT_ONLINE_SECONDS', 'NODE_OPTIONS', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_SERVICE_NAME'];

describe('the local stack’s model of each function, from the synthesized template', () => {
  it.each(Object.keys(functions) as FunctionName[])('%s: exactly the environment its bindings give it, resolved to local values', (name) => {
    const env = model.functions[name].environment();
    expect(Object.keys(env).filter((key) => !COMMON.includes(key)).sort()).toEqual(boundVariables(name));
    for (const [key, value] of Object.entries(env)) expect(typeof value, key).toBe('string');
    if (env.DIRECTORY_TABLE) expect(env.DIRECTORY_TABLE).toBe('latchkey-directory');
    if (env.AGENT_REPLY_QUEUE_URL) expect(env.AGENT_REPLY_QUEUE_URL).toBe(resources.queues.agentReplies.url);
    if (env.PUBLIC_API_URL) expect(env.PUBLIC_API_URL).toBe('http://127.0.0.1:4000');
    if (env.DEPLOYMENT_STATE_MACHINE_ARN) expect(env.DEPLOYMENT_STATE_MACHINE_ARN).toBe(resources.stateMachines.deployment);
  });

  it('a role’s grants are evaluated on the local ARNs: RW may write, RO may not', async () => {
    expect(await gate.check(principal('seal-release'), 'dynamodb:PutItem', table('latchkey-directory'))).toEqual({ allowed: true });
    const denied = await gate.check(principal('get-me'), 'dynamodb:PutItem', table('latchkey-directory'));
    expect(denied).toMatchObject({ allowed: false, message: expect.stringMatching(/is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table\/latchkey-directory because no identity-based policy allows/) });
    expect((await gate.check(principal('get-me'), 'dynamodb:Query', `${table('latchkey-directory')}/index/gsi1`)).allowed).toBe(true);
    expect((await gate.check(principal('get-me'), 'dynamodb:Scan', table('latchkey-directory'))).allowed).toBe(false);
  });

  it('S3: object actions on the bucket’s objects, ListBucket on the bucket, nothing on another', async () => {
    const releases = principal('complete-release');
    expect((await gate.check(releases, 's3:GetObject', 'arn:aws:s3:::latchkey-releases/accounts/a/x')).allowed).toBe(true);
    expect((await gate.check(releases, 's3:ListBucket', 'arn:aws:s3:::latchkey-releases')).allowed).toBe(true);
    expect((await gate.check(releases, 's3:GetObject', 'arn:aws:s3:::other/x')).allowed).toBe(false);
    expect((await gate.check(principal('get-me'), 's3:GetObject', 'arn:aws:s3:::latchkey-releases/x')).allowed).toBe(false);
  });

  it('agent queues by prefix; task tokens answered on the state machine; mail only as the sender’s domain', async () => {
    const prefix = model.functions['enrol-agent'].environment().AGENT_QUEUE_PREFIX!;
    expect((await gate.check(principal('enrol-agent'), 'sqs:CreateQueue', `arn:aws:sqs:${region}:${account}:${prefix}agt_1`)).allowed).toBe(true);
    expect((await gate.check(principal('seal-release'), 'sqs:CreateQueue', `arn:aws:sqs:${region}:${account}:${prefix}agt_1`)).allowed).toBe(false);
    expect((await gate.check(principal('approve-deployment'), 'states:SendTaskSuccess', resources.stateMachines.deployment)).allowed).toBe(true);
    expect((await gate.check(principal('get-me'), 'states:SendTaskSuccess', resources.stateMachines.deployment)).allowed).toBe(false);
    expect((await gate.check(principal('notify-approvers'), 'ses:SendEmail', `arn:aws:ses:${region}:${account}:identity/localhost`)).allowed).toBe(true);
    expect((await gate.check(principal('notify-approvers'), 'ses:SendEmail', `arn:aws:ses:${region}:${account}:identity/ada@example.com`)).allowed).toBe(false);
  });

  it('the state machine’s role may invoke exactly its functions', () => {
    const statements = model.stateMachines.deployment.policies.flatMap((p) => p.Statement as { Action: string | string[]; Resource: string | string[] }[]);
    const invoke = statements.find((s) => [s.Action].flat().includes('lambda:InvokeFunction'))!;
    expect([invoke.Resource].flat().sort()).toEqual(
      Object.values(stateMachines.deployment.functionSubstitutions).map((fn) => `arn:aws:lambda:${region}:${account}:function:latchkey-${fn}`).sort(),
    );
  });
});
