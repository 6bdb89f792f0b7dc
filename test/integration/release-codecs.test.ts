import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { create as createTar } from 'tar';
import { describe, expect, it } from 'vitest';
import { decodeManifest, SIGNATURE_BYTES } from '#shared/crypto/index.ts';
import { fromB64 } from '#shared/protocol/trust.ts';
import { currentOf, deployAndWait, expectSucceeded, startTarget } from '../support/deploy-agents.ts';
import { push, replaceReleaseArchive } from '../support/deploy-release.ts';
import { sourceDir } from '../support/fault-stack.ts';
import { signManifestV3 } from '../support/manifest-v3.ts';
import { cliSession } from './cli/run-cli.ts';

/**
 * Issue 22: push packs with brotli and the signed manifest says so; a target unpacks as the
 * manifest says; a release pushed by the CLI before the codec (manifest version 3, tar+gzip)
 * still deploys.
 */
describe('archive codecs, end to end', () => {
  it('a push is tar+brotli by its signed manifest and installs; a release signed as the previous CLI did (manifest 3, tar+gzip) installs after it', { timeout: 180_000 }, async () => {
    // Prepare: a plain app `site` and a target of `web`.
    const cli = await cliSession();
    const account = await cli.signup();
    await cli.json(['envs', 'create', 'web']);
    await cli.json(['apps', 'create', 'site']);
    const target = await startTarget(cli, 'tw', ['web']);
    const text = `${'the quick brown fox jumps over the lazy dog\n'.repeat(20_000)}`;

    // Act 1: push (brotli) and deploy.
    const v1 = await push(cli, 'site', await sourceDir({ 'index.html': '<h1>v1</h1>\n', 'words.txt': text }), '1.0.0');
    const deployed1 = await deployAndWait(cli, 'site', '1.0.0', 'web');

    // Assess 1: the manifest names brotli; the archive compressed (a copy would be > 880 KB); the files are installed.
    const releases = await cli.json<{ version: string; manifest: string; size: number }[]>(['releases', 'list', 'site']);
    const release1 = releases.find((r) => r.version === '1.0.0')!;
    const signed = fromB64(release1.manifest);
    expect(decodeManifest(signed.subarray(0, signed.byteLength - SIGNATURE_BYTES)).codec).toBe('tar+brotli');
    expect(release1.size).toBeLessThan(20_000);
    expectSucceeded(deployed1);
    const appDir = target.appDir(v1.appId);
    const live1 = (await currentOf(appDir))!;
    expect(await readFile(path.join(appDir, 'releases', live1, 'words.txt'), 'utf8')).toBe(text);

    // Act 2: 1.1.0, whose archive and manifest are what the previous CLI made: tar.gz, manifest version 3.
    const v2 = await push(cli, 'site', await sourceDir({ 'placeholder.txt': 'x' }), '1.1.0');
    const old = await sourceDir({ 'index.html': '<h1>v1.1 from the previous CLI</h1>\n' });
    const archive = path.join(old, '..', 'old.tar.gz');
    await createTar({ gzip: true, file: archive, cwd: old, portable: true }, ['.']);
    await replaceReleaseArchive(cli, { accountId: account.accountId, appId: v2.appId, releaseId: v2.releaseId }, await readFile(archive), undefined, signManifestV3);
    const deployed2 = await deployAndWait(cli, 'site', '1.1.0', 'web');

    // Assess 2
    expectSucceeded(deployed2);
    const live2 = (await currentOf(appDir))!;
    expect(live2).not.toBe(live1);
    expect(await readFile(path.join(appDir, 'releases', live2, 'index.html'), 'utf8')).toBe('<h1>v1.1 from the previous CLI</h1>\n');
  });
});
