import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { extract } from 'tar';
import { describe, expect, it, onTestFinished } from 'vitest';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { decryptRelease, DEFAULT_SEGMENT_SIZE, hpkeUnwrap, loadAgentKeys, RELEASE_MAGIC, unwrapUnderMaster } from '#shared/crypto/index.ts';
import { releaseDigestOf } from '#shared/crypto/release-digest.ts';
import { HEADER_PREFIX_BYTES, parseHeaderPrefix } from '#shared/crypto/release-format.ts';
import { masterKeyContext, releaseKeyUnderMasterContext } from '#shared/protocol/key-contexts.ts';
import { fromB64 } from '#shared/protocol/trust.ts';
import { releaseContext } from '#cli/commands/push.ts';
import { startKeyServer, untilAgents } from '../../support/agents.ts';
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

/**
 * What a key server can do and the backend cannot: open its copy of the master key (with its
 * private key, from its state directory), then the release key the backend stores wrapped under
 * it, then the object, checked against the manifest the pusher (the owner) signed.
 */
const decryptWithKeyServer = async (accountId: string, releaseId: string, state: string, object: Buffer, configPath: string) => {
  const { dynamo, env } = localClients();
  const keys = await loadAgentKeys(path.join(state, 'agent.key'));
  const item = async (TableName: string, sk: string) => (await dynamo.send(new GetCommand({ TableName, Key: { pk: `ACCOUNT#${accountId}`, sk } }))).Item!;
  const sealed = await item(env.WRAPPED_KEYS_TABLE!, `RELEASE#${releaseId}`);
  const stored = await item(env.DEPLOYMENTS_TABLE!, `RELEASE#${releaseId}`);
  const { agentId } = JSON.parse(await readFile(path.join(state, 'state.json'), 'utf8')).enrolment as { agentId: string };
  const copy = await item(env.WRAPPED_KEYS_TABLE!, `MASTER#${String(sealed.version).padStart(10, '0')}#${agentId}`);
  const master = await hpkeUnwrap(keys.encryption.privateKey, masterKeyContext({ accountId, version: sealed.version }), fromB64(copy.wrappedMaster));
  const ids = { accountId, appId: stored.appId as string, releaseId };
  const releaseKey = unwrapUnderMaster({ version: sealed.version, key: master }, releaseKeyUnderMasterContext({ ...ids, version: sealed.version }), fromB64(sealed.wrappedReleaseKey));
  const owner = JSON.parse(await readFile(path.join(path.dirname(configPath), `owner-key.${accountId}.json`), 'utf8')) as { publicKey: string };
  const out = path.join(await scratchDir('latchkey-push-open-'), 'release.tgz');
  await decryptRelease({
    input: object,
    outputPath: out,
    releaseKey,
    context: releaseContext(ids),
    manifest: fromB64(stored.manifest),
    signerPublicKey: fromB64(owner.publicKey),
  });
  return out;
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
    await extract({ file: path.join(unpacked, 'release.tgz'), cwd: unpacked, brotli: true });
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

  it('pushes a secure application with two running key servers: the bucket holds ciphertext that only the master key opens, to the directory', { timeout: 120_000 }, async () => {
    // Prepare: two key servers (real agents) hold master key v1; the application is secure.
    const cli = await cliSession();
    const account = await cli.signup();
    await startKeyServer(cli, 'a');
    const b = await startKeyServer(cli, 'b');
    await untilAgents(cli, 'a and b to hold v1', (l) => ['a', 'b'].every((n) => l[n]?.online && l[n].masterVersions.includes(1)));
    await cli.run(['apps', 'create', 'vault']);
    await cli.run(['apps', 'secure', 'vault']);
    const source = await scratchDir('latchkey-push-src-');
    await writeFile(path.join(source, 'secret.txt'), 'the plaintext nobody else may read\n');

    // Act
    const result = await cli.run(['push', 'vault', source, '--version', 'v1.0.0', '--json']);

    // Assess: encrypted and sealed under v1; the object is a release file, not the tarball.
    expect(result.code, result.stderr).toBe(0);
    const release = JSON.parse(result.stdout) as Release & { masterVersion: number };
    expect(release).toMatchObject({ state: 'ready', encrypted: true, masterVersion: 1 });
    const object = await objectOf(account.accountId, release.releaseId);
    expect(object.length).toBe(release.size);
    expect(object.subarray(0, RELEASE_MAGIC.length).equals(RELEASE_MAGIC)).toBe(true);
    expect(object.includes('the plaintext')).toBe(false);
    // A key server's copy of the master key opens the release key, which opens the object.
    const opened = await decryptWithKeyServer(account.accountId, release.releaseId, b.state, object, cli.configPath);
    await extract({ file: opened, cwd: path.dirname(opened), brotli: true });
    expect(await readFile(path.join(path.dirname(opened), 'secret.txt'), 'utf8')).toBe('the plaintext nobody else may read\n');
  });

  it('pushes a 200 MB directory to a secure application with progress; the bucket holds exactly the ciphertext', { timeout: 300_000 }, async () => {
    // Prepare: 20 files of 10 MB of random bytes (incompressible, so the upload stays ~200 MB),
    // and two running key servers for the secure application.
    const cli = await cliSession();
    const account = await cli.signup();
    await startKeyServer(cli, 'a');
    await startKeyServer(cli, 'b');
    await untilAgents(cli, 'a and b to hold v1', (l) => ['a', 'b'].every((n) => l[n]?.online && l[n].masterVersions.includes(1)));
    await cli.run(['apps', 'create', 'big']);
    await cli.run(['apps', 'secure', 'big']);
    const source = await scratchDir('latchkey-push-big-');
    const samples: Buffer[] = [];
    for (let i = 0; i < 20; i++) {
      const bytes = randomBytes(10 * 1024 * 1024);
      if (i % 4 === 0) samples.push(bytes.subarray(5 * 1024 * 1024, 5 * 1024 * 1024 + 32));
      await writeFile(path.join(source, `part-${i}.bin`), bytes);
    }

    // Act
    const started = Date.now();
    const result = await cli.run(['push', 'big', source, '--json']);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Uploading +\d+%/);
    expect(result.stderr).toMatch(/Uploaded \d+\.\d MB in [\d.]+s \([\d.]+ MB\/s\)/);
    const release = JSON.parse(result.stdout) as Release;
    expect(release).toMatchObject({ state: 'ready', encrypted: true });
    expect(release.size).toBeGreaterThan(200 * 1024 * 1024);
    const object = await objectOf(account.accountId, release.releaseId);
    expect(object.length).toBe(release.size);
    // The release digest of docs/release-format.md §3.5, over the object exactly as stored.
    const headerLength = HEADER_PREFIX_BYTES + parseHeaderPrefix(object.subarray(0, HEADER_PREFIX_BYTES)).remaining;
    expect(releaseDigestOf(object, headerLength, DEFAULT_SEGMENT_SIZE).toString('hex')).toBe(release.digest);
    expect(object.subarray(0, RELEASE_MAGIC.length).equals(RELEASE_MAGIC)).toBe(true);
    for (const sample of samples) expect(object.includes(sample)).toBe(false);
    expect(Date.now() - started).toBeLessThan(180_000);
  });
});
