import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, onTestFinished } from 'vitest';
import { localClients } from '../../support/clients.ts';
import { deployAndWait, expectSucceeded, startTarget } from '../../support/deploy-agents.ts';
import { push } from '../../support/deploy-release.ts';
import { cliSession } from '../cli/run-cli.ts';

const { dynamo, env } = localClients();

const source = async (files: Record<string, string>) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-forged-src-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
  return dir;
};

type Status = { state: string; releaseDigest: string; targets?: { agentId: string; outcome: string; receipt?: unknown }[]; receipts?: { targets: { verified: boolean; problem?: string }[]; problems: string[] } };

describe('a compromised backend forges what a deployment did', () => {
  it('a "Succeeded" with no receipt, with another deployment’s receipt, or showing another digest than the target installed: `latchkey status` says it is not verified', { timeout: 180_000 }, async () => {
    // Prepare: a plain release installed for real by a real target; its receipt verifies.
    const cli = await cliSession();
    const { accountId } = await cli.signup();
    await cli.json(['envs', 'create', 'web']);
    await cli.json(['apps', 'create', 'site']);
    const v1 = await push(cli, 'site', await source({ 'index.html': '<h1>v1</h1>\n', 'latchkey.yml': 'install: echo installed\n' }), '1.0.0');
    const v2 = await push(cli, 'site', await source({ 'index.html': '<h1>v2</h1>\n', 'latchkey.yml': 'install: echo installed\n' }), '2.0.0');
    const target = await startTarget(cli, 'tw', ['web']);
    const genuine = await deployAndWait(cli, 'site', '1.0.0', 'web');
    expectSucceeded(genuine);
    const shown = await cli.run(['status', genuine.deploymentId]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`${target.agentId}  installed ${v1.digest} (receipt verified)`);
    expect(shown.stderr).not.toContain('WARNING');

    const key = (deploymentId: string) => ({ pk: `ACCOUNT#${accountId}`, sk: `DEPLOYMENT#${deploymentId}` });
    const { Item: item } = await dynamo.send(new GetCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: key(genuine.deploymentId), ConsistentRead: true }));
    const genuineReport = (item!.targetReports as Record<string, { receipt: unknown }>)[target.agentId]!;

    /** A deployment of 2.0.0 that never ran, written straight into DynamoDB as Succeeded, with the report given. */
    const forge = async (report: Record<string, unknown> | undefined) => {
      const deploymentId = `dep_${randomBytes(16).toString('hex')}`;
      const at = new Date().toISOString();
      await dynamo.send(
        new PutCommand({
          TableName: env.DEPLOYMENTS_TABLE!,
          Item: {
            ...item,
            ...key(deploymentId),
            gsi1sk: `${at}#${deploymentId}`,
            deploymentId,
            releaseId: v2.releaseId,
            releaseVersion: '2.0.0',
            releaseDigest: v2.digest,
            deployTargets: report ? [target.agentId] : [],
            targetReports: report ? { [target.agentId]: { outcome: 'succeeded', at, current: 'forged', output: '', ...report } } : {},
          },
        }),
      );
      return deploymentId;
    };

    /** What the backend shows (Succeeded: a status that does not check receipts would say no more), and what `status` says. */
    const statusOf = async (deploymentId: string) => {
      const json = await cli.json<Status>(['status', deploymentId]);
      const human = await cli.run(['status', deploymentId]);
      expect(json.state).toBe('Succeeded');
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/state\s+Succeeded/);
      return { json, human };
    };

    // Act and assess 1: an install reported with no receipt.
    const bare = await statusOf(await forge({}));
    expect(bare.json.targets).toEqual([expect.objectContaining({ agentId: target.agentId, outcome: 'succeeded' })]);
    expect(bare.json.receipts!.targets).toEqual([{ agentId: target.agentId, verified: false, problem: 'no receipt: the target signed nothing for it' }]);
    expect(bare.human.stdout).toContain(`${target.agentId}  succeeded (current: forged)  NOT VERIFIED: no receipt`);
    expect(bare.human.stderr).toContain(`WARNING: the install on ${target.agentId} is not verified: no receipt: the target signed nothing for it.`);

    // 2: the target's genuine receipt, from the deployment of 1.0.0.
    const borrowed = await statusOf(await forge({ receipt: genuineReport.receipt }));
    expect(borrowed.json.receipts!.targets).toEqual([{ agentId: target.agentId, verified: false, problem: `the receipt does not match: it is for another deployment (${genuine.deploymentId})` }]);
    expect(borrowed.human.stderr).toContain(`WARNING: the install on ${target.agentId} is not verified`);

    // 3: no install at all.
    const empty = await statusOf(await forge(undefined));
    expect(empty.json.receipts!.problems).toEqual(['it is shown as Succeeded, but no target reported an install']);
    expect(empty.human.stderr).toContain('WARNING: not verified: it is shown as Succeeded, but no target reported an install.');

    // 4: the genuine deployment, shown with the digest of 2.0.0 (what approvers would have been shown), while the target installed 1.0.0.
    await dynamo.send(new UpdateCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: key(genuine.deploymentId), UpdateExpression: 'SET releaseDigest = :digest', ExpressionAttributeValues: { ':digest': v2.digest } }));
    const swapped = await statusOf(genuine.deploymentId);
    expect(swapped.json.receipts!.targets).toEqual([{ agentId: target.agentId, verified: false, problem: `the receipt does not match: it names digest ${v1.digest}, not the release's ${v2.digest}` }]);
    expect(swapped.human.stderr).toContain(`it names digest ${v1.digest}, not the release's ${v2.digest}`);
  });
});
