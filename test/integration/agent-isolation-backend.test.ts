import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, onTestFinished } from 'vitest';
import { localClients, waitFor } from '../support/clients.ts';
import { currentOf, deployAndWait, expectSucceeded, startTarget, untilEnded, type Cli, type Deployment } from '../support/deploy-agents.ts';
import { push } from '../support/deploy-release.ts';
import { sourceDir } from '../support/fault-stack.ts';
import { cliSession } from './cli/run-cli.ts';

/**
 * Issue 17, "a compromised backend" (docs/threat-model.md): whoever can write the backend's
 * DynamoDB, S3 and SQS tries to run code on a target, or to make it fetch what it should not.
 * The target checks for itself (DESIGN §6).
 */

const ENVIRONMENT = 'env:\n  GREETING: default\ninstall: echo "$GREETING" > greeting.txt\n';

/** A plain app `site` with 1.0.0 installed on target `tw` of `web` (GREETING set). */
const installedSite = async (options: { run?: boolean } = {}) => {
  const cli = await cliSession();
  const account = await cli.signup();
  const web = await cli.json<{ environmentId: string }>(['envs', 'create', 'web', '--var', 'GREETING=hello']);
  await cli.json(['apps', 'create', 'site']);
  const release = await push(cli, 'site', await sourceDir({ 'index.html': '<h1>v1</h1>\n', 'latchkey.yml': ENVIRONMENT }), '1.0.0');
  const target = await startTarget(cli, 'tw', ['web']);
  const appDir = target.appDir(release.appId);
  expectSucceeded(await deployAndWait(cli, 'site', '1.0.0', 'web'));
  const live = (await currentOf(appDir))!;
  if (options.run === false) {
    // A request handed to the long poll the killed agent left open comes back 5 s later, not 60.
    await localClients().sqs.send(new SetQueueAttributesCommand({ QueueUrl: target.queueUrl, Attributes: { VisibilityTimeout: '5' } }));
    await target.process!.kill();
  }
  return { cli, account, web, release, target, appDir, live };
};

/** The environment item's variables, written directly, as a backend that skips the API's checks would. */
const writeVariables = async (accountId: string, environmentId: string, variables: Record<string, string>) => {
  const { dynamo, env } = localClients();
  await dynamo.send(
    new UpdateCommand({
      TableName: env.DIRECTORY_TABLE!,
      Key: { pk: `ACCOUNT#${accountId}`, sk: `ENV#${environmentId}` },
      UpdateExpression: 'SET variables = :variables',
      ExpressionAttributeValues: { ':variables': variables },
    }),
  );
};

/** Calls the API with the CLI's saved owner token. */
const api = async (cli: Cli, method: string, route: string, body: unknown) => {
  const { token } = await cli.savedConfig();
  const response = await fetch(`${cli.endpoint}${route}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, type: response.headers.get('content-type'), body: (await response.json()) as Record<string, unknown> };
};

describe('a compromised backend, against a target', () => {
  it('variables written into the environment item, beside or instead of the owner-signed ones (a loader hook, a preload, another GREETING): no script ever sees them; scripts get only what the owner signed', { timeout: 240_000 }, async () => {
    // Prepare: a release whose install script writes down every variable the attack would set.
    const { cli, account, web, appDir } = await installedSite();
    const probe = 'env:\n  GREETING: default\ninstall: echo "$GREETING ${NODE_OPTIONS-unset} ${LD_PRELOAD-unset} ${BASH_ENV-unset} ${EXTRA_SETTING-unset}" > greeting.txt\n';
    await push(cli, 'site', await sourceDir({ 'index.html': '<h1>v2</h1>\n', 'latchkey.yml': probe }), '2.0.0');

    // Act: the backend writes its own variables straight into DynamoDB; then a routine deploy.
    await writeVariables(account.accountId, web.environmentId, {
      GREETING: 'backend was here',
      NODE_OPTIONS: '--import=data:text/javascript,console.log(1)',
      LD_PRELOAD: '/tmp/evil.so',
      BASH_ENV: '/tmp/evil.sh',
      EXTRA_SETTING: 'x',
    });
    const deployed = await deployAndWait(cli, 'site', '2.0.0', 'web');

    // Assess: installed with the owner-signed GREETING only; none of the backend's variables reached the script.
    expectSucceeded(deployed);
    expect(await readFile(path.join(appDir, 'current', 'greeting.txt'), 'utf8')).toBe('hello unset unset unset unset\n');
  });

  it('the API refuses such variables with a 400 naming the variable, on create and on change, and writes nothing', { timeout: 60_000 }, async () => {
    const cli = await cliSession();
    await cli.signup();
    const web = await cli.json<{ environmentId: string }>(['envs', 'create', 'web', '--var', 'GREETING=hello']);

    for (const name of ['NODE_OPTIONS', 'LD_PRELOAD', 'BASH_ENV', 'PATH', 'PYTHONPATH', 'PERL5OPT', 'GIT_SSH_COMMAND', 'IFS', 'PS4', 'SHELLOPTS']) {
      const created = await api(cli, 'POST', '/environments', { name: 'evil', variables: { GREETING: 'x', [name]: 'y' } });
      const changed = await api(cli, 'PATCH', `/environments/${web.environmentId}`, { variables: { GREETING: 'x', [name]: 'y' } });
      for (const response of [created, changed]) {
        expect(response.status, name).toBe(400);
        expect(response.type).toContain('application/problem+json');
        expect(response.body).toMatchObject({ status: 400, field: `variables.${name}`, title: expect.stringContaining(`variables.${name}: ${name} is reserved`) });
      }
    }
    const lowerCase = await api(cli, 'PATCH', `/environments/${web.environmentId}`, { variables: { http_proxy: 'http://evil' } });
    expect(lowerCase).toMatchObject({ status: 400, body: { field: 'variables.http_proxy', title: expect.stringContaining('is not a script variable name') } });
    const envs = await cli.json<{ name: string; variables: Record<string, string> }[]>(['envs', 'list']);
    expect(envs).toEqual([expect.objectContaining({ name: 'web', variables: { GREETING: 'hello' } })]);
    const viaCli = await cli.run(['envs', 'set', 'web', '--var', 'LD_PRELOAD=/tmp/x.so']);
    expect(viaCli.code).not.toBe(0);
    expect(viaCli.stderr).toContain('LD_PRELOAD is reserved');
  });

  it('a deploy request naming another origin is refused before any connection; a plain release longer than its manifest says is refused; nothing is installed and `current` stays', { timeout: 180_000 }, async () => {
    // Prepare: site 1.0.0 installed; the target stopped, so the next request waits on its queue;
    // a server on this machine that counts who connects to it.
    const { cli, account, release, target, appDir, live } = await installedSite({ run: false });
    const connections: string[] = [];
    const bait = createServer((request, response) => response.end('not a release')).on('connection', (socket) => connections.push(String(socket.remoteAddress)));
    await new Promise<void>((resolve) => bait.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => bait.close(() => resolve())));
    const baitUrl = `http://127.0.0.1:${(bait.address() as AddressInfo).port}/latest/meta-data/iam/security-credentials/`;

    // Act 1: the backend's deploy request, its URL pointed elsewhere.
    const { deploymentId } = await cli.json<Deployment>(['deploy', 'site', '1.0.0', 'web']);
    const { sqs } = localClients();
    const sent = await waitFor('the deploy request on the target queue', async () => {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: target.queueUrl, VisibilityTimeout: 60, WaitTimeSeconds: 1 }));
      return Messages[0];
    }, 30_000);
    const request = JSON.parse(sent.Body!) as { url: string };
    expect(request.url.startsWith(baitUrl)).toBe(false);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: target.queueUrl, ReceiptHandle: sent.ReceiptHandle! }));
    await sqs.send(new SendMessageCommand({ QueueUrl: target.queueUrl, MessageBody: JSON.stringify({ ...request, url: baitUrl }) }));
    const restarted = target.start();

    // Assess 1: refused naming the origin, and nothing ever connected to the other one.
    const ended = await untilEnded(cli, deploymentId);
    const origin = new URL(request.url);
    const bucketPath = origin.pathname.split('/').slice(0, 2).join('/');
    expect(ended.outcome?.reason).toBe(
      `Failed on 1 of 1 targets. tw (${target.agentId}): DownloadRefused: the release URL names ${new URL(baitUrl).origin}, not the releases bucket ${origin.origin}${bucketPath}/ this agent learned at session time; nothing was downloaded or installed`,
    );
    expect(connections).toEqual([]);
    expect(restarted.log).toContainEqual(expect.objectContaining({ msg: 'audit: release download refused, not at the releases origin', deploymentId }));
    expect(await currentOf(appDir)).toBe(live);

    // Act 2: the object in the bucket grows by a mebibyte past what the signed manifest names.
    const { s3, dynamo, env } = localClients();
    const { Item } = await dynamo.send(new GetCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: { pk: `ACCOUNT#${account.accountId}`, sk: `RELEASE#${release.releaseId}` }, ConsistentRead: true }));
    const object = { Bucket: env.RELEASES_BUCKET!, Key: Item!.objectKey as string };
    const bytes = Buffer.from(await (await s3.send(new GetObjectCommand(object))).Body!.transformToByteArray());
    await s3.send(new PutObjectCommand({ ...object, Body: Buffer.concat([bytes, Buffer.alloc(1 << 20, 7)]) }));
    const longer = await deployAndWait(cli, 'site', '1.0.0', 'web');

    // Assess 2: stopped at the manifest's size and refused; nothing installed.
    expect(longer.outcome?.reason).toBe(
      `Failed on 1 of 1 targets. tw (${target.agentId}): IntegrityCheckFailed: the release file is refused: it is longer than the ${bytes.length} bytes its manifest names (the download was stopped there); nothing was installed`,
    );
    expect(await currentOf(appDir)).toBe(live);
    expect(await readdir(path.join(appDir, 'releases'))).toEqual([live]);
    expect(await readdir(path.join(target.state, 'staging'))).toEqual([]);
  });
});
