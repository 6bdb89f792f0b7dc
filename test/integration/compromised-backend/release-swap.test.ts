import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { toB64 } from '#shared/protocol/trust.ts';
import { deploymentsItem, putDeploymentsItem, presignedGet, requeue, takeFromQueue, updateDirectoryItem, type DeployReleaseRequest } from '../../support/backend-writes.ts';
import { journalOf, startTarget, untilEnded, type Deployment } from '../../support/deploy-agents.ts';
import { push, replaceReleaseArchive } from '../../support/deploy-release.ts';
import { sourceDir as source } from '../../support/fault-stack.ts';
import { cliSession } from '../cli/run-cli.ts';

describe('a compromised backend shows approvers one release and hands the target another', () => {
  it('release bytes and manifest swapped in the queued request (signed by a key of the backend’s, named as the owner’s key) are refused as IntentMismatch; the object alone swapped, as IntegrityCheckFailed; nothing is installed', { timeout: 300_000 }, async () => {
    // Prepare: a plain release pushed by the owner; a deployment of it, whose request the backend
    // holds (the target is not running yet).
    const cli = await cliSession();
    const { accountId, ownerId } = await cli.signup();
    await cli.json(['envs', 'create', 'web']);
    await cli.json(['apps', 'create', 'site']);
    // (Its notes do not compress: the backend's release below is shorter, so only its digest tells it apart.)
    const notes = `${randomBytes(4096).toString('hex')}\n`;
    const genuine = await push(cli, 'site', await source({ 'index.html': '<h1>genuine</h1>\n', 'notes.txt': notes, 'latchkey.yml': 'install: echo installed\n' }), '1.0.0');
    const target = await startTarget(cli, 't1', ['web'], { run: false });
    const first = await cli.json<Deployment>(['deploy', 'site', '1.0.0', 'web']);
    const kept = (await takeFromQueue(accountId, target.agentId, (r) => r.type === 'deploy-release' && r.deploymentId === first.deploymentId)) as DeployReleaseRequest;
    const releaseKey = `RELEASE#${genuine.releaseId}`;
    const genuineRelease = (await deploymentsItem(accountId, releaseKey))!;

    // Act 1: the backend's own release (an install script of its own), with a manifest signed by
    // a key of its own, put in the bucket and the release item in place of the genuine one; the
    // owner's key on the user item is made that key; the held request carries its manifest.
    const evil = await source({ 'index.html': '<h1>evil</h1>\n', 'latchkey.yml': 'install: echo pwned > pwned.txt\n' });
    const bytes = execFileSync('tar', ['-czf', '-', '-C', evil, '.']);
    const backendKey = generateRawKeyPair('ed25519');
    await replaceReleaseArchive(cli, { accountId, appId: genuine.appId, releaseId: genuine.releaseId }, bytes, backendKey);
    await updateDirectoryItem(accountId, `USER#${ownerId}`, { signingKey: { publicKey: toB64(backendKey.publicKey), registeredAt: new Date().toISOString() } });
    const swapped = (await deploymentsItem(accountId, releaseKey))!;
    expect(swapped.digest).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(bytes.length).toBeLessThan(genuineRelease.size as number);
    await requeue(accountId, target.agentId, { ...kept, manifest: swapped.manifest as string, digest: swapped.digest as string, url: await presignedGet(swapped.objectKey as string) });
    target.start();
    const refused = await untilEnded(cli, first.deploymentId, 120_000);

    // Assess 1: the deployer's intent names the genuine manifest; the deployment failed with the target's refusal.
    const journal = await journalOf(target.state);
    expect(journal).toEqual([expect.objectContaining({ requestId: kept.requestId, outcome: 'failed', error: expect.objectContaining({ code: 'IntentMismatch' }) })]);
    expect(journal[0]!.error!.message).toContain('the deployment intent names another release manifest');
    expect(refused.state).toBe('Failed');
    expect(refused.outcome?.reason).toContain('IntentMismatch');
    await expect(stat(target.appDir(genuine.appId))).rejects.toThrow();

    // Act 2: the genuine manifest and digest back on the release item, the bucket still holding
    // the backend's bytes; a new deployment, through the backend's own functions.
    await putDeploymentsItem(genuineRelease);
    const second = await cli.json<Deployment>(['deploy', 'site', '1.0.0', 'web']);
    const ended = await untilEnded(cli, second.deploymentId, 120_000);

    // Assess 2: the target downloaded bytes that are not the ones the manifest signs, and refused them.
    expect(ended.state).toBe('Failed');
    expect(ended.outcome?.reason).toContain('IntegrityCheckFailed');
    const report = (await journalOf(target.state)).find((e) => e.type === 'deploy-release' && e.requestId !== kept.requestId);
    expect(report).toMatchObject({ outcome: 'failed', error: { code: 'IntegrityCheckFailed' } });
    await expect(stat(target.appDir(genuine.appId))).rejects.toThrow();
  });
});
