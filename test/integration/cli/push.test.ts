import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { extract } from 'tar';
import { describe, expect, it, onTestFinished } from 'vitest';
import { localClients } from '../../support/clients.ts';
import { cliSession } from './run-cli.ts';

type Release = { releaseId: string; appId: string; version: string; state: string; encrypted: boolean; size: number; digest?: string };

const scratchDir = async (prefix: string) => {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
};

/** The one object the release left in the bucket, found by its release id. */
const objectOf = async (accountId: string, releaseId: string): Promise<Buffer> => {
  const { s3, env } = localClients();
  const Bucket = env.RELEASES_BUCKET!;
  const listed = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: `accounts/${accountId}/` }));
  const key = listed.Contents?.map((o) => o.Key!).find((k) => k.includes(releaseId));
  if (!key) throw new Error(`no object for ${releaseId} in ${Bucket}`);
  const got = await s3.send(new GetObjectCommand({ Bucket, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
};

describe('latchkey push', () => {
  it('pushes a plain application: the object in the bucket is the tarball of the directory', async () => {
    // Prepare
    const cli = await cliSession();
    const account = await cli.signup();
    await cli.run(['apps', 'create', 'web']);
    const source = await scratchDir('latchkey-push-src-');
    await mkdir(path.join(source, 'lib'));
    await writeFile(path.join(source, 'index.js'), 'console.log("hello")\n');
    await writeFile(path.join(source, 'lib', 'data.bin'), randomBytes(100_000));

    // Act
    const result = await cli.run(['push', 'web', source, '--version', 'v1.0.0', '--json']);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    const release = JSON.parse(result.stdout) as Release;
    expect(release).toMatchObject({ version: 'v1.0.0', state: 'ready', encrypted: false });
    const object = await objectOf(account.accountId, release.releaseId);
    expect(object.length).toBe(release.size);
    expect(createHash('sha256').update(object).digest('hex')).toBe(release.digest);
    const unpacked = await scratchDir('latchkey-push-out-');
    await writeFile(path.join(unpacked, 'release.tgz'), object);
    await extract({ file: path.join(unpacked, 'release.tgz'), cwd: unpacked });
    expect(await readFile(path.join(unpacked, 'index.js'), 'utf8')).toBe('console.log("hello")\n');
    expect((await readFile(path.join(unpacked, 'lib', 'data.bin'))).equals(await readFile(path.join(source, 'lib', 'data.bin')))).toBe(true);
    const listed = await cli.run(['releases', 'list', 'web', '--json']);
    if (listed.code === 0) expect(JSON.parse(listed.stdout).map((r: Release) => r.releaseId)).toContain(release.releaseId);
  });

  it('refuses an application that does not exist, uploading nothing', async () => {
    const cli = await cliSession();
    await cli.signup();
    await cli.run(['apps', 'create', 'web']);
    const source = await scratchDir('latchkey-push-src-');
    await writeFile(path.join(source, 'a.txt'), 'a');
    const result = await cli.run(['push', 'no-such-app', source]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('No application matches');
  });

  // Secure pushes need two running key-server agents (`latchkey-agent`), not available yet: the
  // secure variant of this test (object starts with the release magic, holds no plaintext) is
  // left out until it is; unit tests cover the secure flow against the fake API.
  it('pushes a 200 MB directory with progress, and the bucket holds exactly the upload', { timeout: 240_000 }, async () => {
    // Prepare: 20 files of 10 MB of random bytes (incompressible, so the upload stays ~200 MB).
    const cli = await cliSession();
    const account = await cli.signup();
    await cli.run(['apps', 'create', 'big']);
    const source = await scratchDir('latchkey-push-big-');
    for (let i = 0; i < 20; i++) await writeFile(path.join(source, `part-${i}.bin`), randomBytes(10 * 1024 * 1024));

    // Act
    const started = Date.now();
    const result = await cli.run(['push', 'big', source, '--json']);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Uploaded \d+\.\d MB in [\d.]+s \([\d.]+ MB\/s\)/);
    const release = JSON.parse(result.stdout) as Release;
    expect(release.size).toBeGreaterThan(200 * 1024 * 1024);
    const object = await objectOf(account.accountId, release.releaseId);
    expect(object.length).toBe(release.size);
    expect(createHash('sha256').update(object).digest('hex')).toBe(release.digest);
    expect(Date.now() - started).toBeLessThan(180_000);
  });
});
