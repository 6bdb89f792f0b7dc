import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CompleteMultipartUploadCommand } from '@aws-sdk/client-s3';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { newAccount } from '../support/accounts.ts';
import { localClients } from '../support/clients.ts';
import { plainManifestOf, pushingAccount } from '../support/pushers.ts';

describe('releases: presigned upload, completion, listing', () => {
  it('a deployer uploads a release through the presigned URL and completes it with a manifest signed by their vouched key; the digest is the manifest’s', async () => {
    // Prepare
    const a = await pushingAccount();
    const app = (await a.owner('POST', '/apps', { name: 'web' })).body;
    const bytes = randomBytes(4096);
    const digest = createHash('sha256').update(bytes).digest('hex');

    // Act
    const created = await a.deployer.call('POST', `/apps/${app.appId}/releases`, { version: 'v1.0.0', size: bytes.length });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ state: 'uploading', encrypted: false, upload: { method: 'PUT' } });
    const ids = { accountId: a.accountId, appId: app.appId, releaseId: created.body.releaseId };
    const manifest = plainManifestOf(ids, bytes, a.signingKeys.deployer);
    const complete = (body: Record<string, unknown>) => a.deployer.call('POST', `/apps/${app.appId}/releases/${created.body.releaseId}/complete`, body);
    expect((await complete({ manifest })).status).toBe(409); // nothing uploaded yet
    const upload = await fetch(created.body.upload.url, { method: 'PUT', body: bytes });
    expect(upload.status).toBe(200);
    const completed = await complete({ manifest });

    // Assess
    expect(completed.status, JSON.stringify(completed.body)).toBe(200);
    expect(completed.body).toMatchObject({ state: 'ready', digest, size: 4096, manifest });
    expect((await complete({ manifest, digest })).status).toBe(200);
    const other = await complete({ manifest, digest: 'a'.repeat(64) });
    expect(other.status).toBe(400);
    expect(other.body).toMatchObject({ field: 'digest' });
    const listed = await a.approver.call('GET', `/apps/${app.appId}/releases`);
    expect(listed.body.items.map((r: { releaseId: string }) => r.releaseId)).toEqual([created.body.releaseId]);
  });

  it('complete refuses a missing manifest, one signed by a key the owner did not vouch for, one for another release, size or kind, and a pusher with no vouched key: 4xx, nothing completed', async () => {
    // Prepare: an uploaded release, and the approver (no vouched key) as a stranger's key.
    const a = await pushingAccount();
    const app = (await a.owner('POST', '/apps', { name: 'web' })).body;
    const bytes = randomBytes(2048);
    const created = (await a.deployer.call('POST', `/apps/${app.appId}/releases`, { version: '1.0.0', size: bytes.length })).body;
    expect((await fetch(created.upload.url, { method: 'PUT', body: bytes })).status).toBe(200);
    const ids = { accountId: a.accountId, appId: app.appId, releaseId: created.releaseId };
    const complete = (body: Record<string, unknown>) => a.deployer.call('POST', `/apps/${app.appId}/releases/${created.releaseId}/complete`, body);
    const stranger = generateRawKeyPair('ed25519');

    // Act and assess: each refused with the field and why.
    const missing = await complete({ digest: createHash('sha256').update(bytes).digest('hex') });
    expect(missing).toMatchObject({ status: 400, body: { field: 'manifest' } });
    const unvouched = await complete({ manifest: plainManifestOf(ids, bytes, stranger) });
    expect(unvouched).toMatchObject({ status: 400, body: { field: 'manifest', title: expect.stringContaining("does not verify under the pusher's vouched key") } });
    const ownersKey = await complete({ manifest: plainManifestOf(ids, bytes, a.signingKeys.owner) });
    expect(ownersKey.status).toBe(400); // the owner's key is the owner's, not this pusher's
    const otherRelease = await complete({ manifest: plainManifestOf({ ...ids, releaseId: `rel_${'0'.repeat(32)}` }, bytes, a.signingKeys.deployer) });
    expect(otherRelease).toMatchObject({ status: 400, body: { field: 'manifest' } });
    const otherSize = await complete({ manifest: plainManifestOf(ids, Buffer.concat([bytes, Buffer.alloc(1)]), a.signingKeys.deployer) });
    expect(otherSize).toMatchObject({ status: 400, body: { field: 'manifest', title: expect.stringContaining('not the 2048 announced') } });
    expect((await a.deployer.call('GET', `/apps/${app.appId}/releases/${created.releaseId}`)).body.state).toBe('uploading');

    // A pusher whose key the owner never vouched for cannot complete at all.
    const plain = await newAccount();
    const theirApp = (await plain.owner('POST', '/apps', { name: 'web' })).body;
    const theirs = (await plain.deployer.call('POST', `/apps/${theirApp.appId}/releases`, { version: '1', size: bytes.length })).body;
    await fetch(theirs.upload.url, { method: 'PUT', body: bytes });
    const noKey = await plain.deployer.call('POST', `/apps/${theirApp.appId}/releases/${theirs.releaseId}/complete`, {
      manifest: plainManifestOf({ accountId: plain.accountId, appId: theirApp.appId, releaseId: theirs.releaseId }, bytes, stranger),
    });
    expect(noKey).toMatchObject({ status: 409, body: { title: expect.stringContaining('vouched for no release-signing key') } });
  });

  it('a version names one release of an application: a second push of it is a 409 and writes nothing; another application may use it', async () => {
    const a = await pushingAccount();
    const web = (await a.owner('POST', '/apps', { name: 'web' })).body;
    const api = (await a.owner('POST', '/apps', { name: 'api' })).body;
    expect((await a.deployer.call('POST', `/apps/${web.appId}/releases`, { version: '1.0.0', size: 10 })).status).toBe(201);
    const again = await a.owner('POST', `/apps/${web.appId}/releases`, { version: '1.0.0', size: 20 });
    expect(again).toMatchObject({ status: 409, body: { title: expect.stringContaining('has a release 1.0.0 already') } });
    expect((await a.owner('GET', `/apps/${web.appId}/releases`)).body.items).toHaveLength(1);
    expect((await a.owner('POST', `/apps/${api.appId}/releases`, { version: '1.0.0', size: 10 })).status).toBe(201);
  });

  it('a version left naming no release (a crash between its two writes) is taken over by the next push of it', async () => {
    const a = await pushingAccount();
    const web = (await a.owner('POST', '/apps', { name: 'web' })).body;
    const { dynamo, env } = localClients();
    await dynamo.send(
      new PutCommand({
        TableName: env.DEPLOYMENTS_TABLE!,
        Item: { pk: `ACCOUNT#${a.accountId}`, sk: `VERSION#APP#${web.appId}#1.0.0`, kind: 'release-version', releaseId: `rel_${'0'.repeat(32)}` },
      }),
    );
    const created = await a.deployer.call('POST', `/apps/${web.appId}/releases`, { version: '1.0.0', size: 10 });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await a.owner('POST', `/apps/${web.appId}/releases`, { version: '1.0.0', size: 10 })).status).toBe(409);
  });

  it('only the pusher or the owner completes or renews a release: another deployer gets a 403', async () => {
    const a = await pushingAccount();
    const app = (await a.owner('POST', '/apps', { name: 'web' })).body;
    const bytes = randomBytes(100);
    const mine = (await a.owner('POST', `/apps/${app.appId}/releases`, { version: '1.0.0', size: bytes.length })).body;
    await fetch(mine.upload.url, { method: 'PUT', body: bytes });
    const manifest = plainManifestOf({ accountId: a.accountId, appId: app.appId, releaseId: mine.releaseId }, bytes, a.signingKeys.owner);
    const completed = await a.deployer.call('POST', `/apps/${app.appId}/releases/${mine.releaseId}/complete`, { manifest });
    expect(completed).toMatchObject({ status: 403, body: { title: expect.stringContaining('Only the person who pushed a release') } });
    expect((await a.deployer.call('POST', `/apps/${app.appId}/releases/${mine.releaseId}/upload`, {})).status).toBe(403);
    // The deployer's own push the owner may complete (with the deployer's signed manifest).
    const theirs = (await a.deployer.call('POST', `/apps/${app.appId}/releases`, { version: '2.0.0', size: bytes.length })).body;
    await fetch(theirs.upload.url, { method: 'PUT', body: bytes });
    const byOwner = await a.owner('POST', `/apps/${app.appId}/releases/${theirs.releaseId}/complete`, {
      manifest: plainManifestOf({ accountId: a.accountId, appId: app.appId, releaseId: theirs.releaseId }, bytes, a.signingKeys.deployer),
    });
    expect(byOwner.status, JSON.stringify(byOwner.body)).toBe(200);
    expect((await a.owner('POST', `/apps/${app.appId}/releases/${mine.releaseId}/complete`, { manifest })).status).toBe(200);
  });

  it('the upload URL is dead once the release is complete: bytes sent through it later never reach what targets download', async () => {
    // Prepare: a completed release.
    const a = await pushingAccount();
    const app = (await a.owner('POST', '/apps', { name: 'web' })).body;
    const bytes = randomBytes(512);
    const created = (await a.deployer.call('POST', `/apps/${app.appId}/releases`, { version: '1.0.0', size: bytes.length })).body;
    expect((await fetch(created.upload.url, { method: 'PUT', body: bytes })).status).toBe(200);
    const manifest = plainManifestOf({ accountId: a.accountId, appId: app.appId, releaseId: created.releaseId }, bytes, a.signingKeys.deployer);
    expect((await a.deployer.call('POST', `/apps/${app.appId}/releases/${created.releaseId}/complete`, { manifest })).status).toBe(200);

    // Act: the same URL, other bytes of the same size.
    await fetch(created.upload.url, { method: 'PUT', body: Buffer.alloc(bytes.length, 0x41) }).catch(() => undefined);

    // Assess: the release object (what deploys presign for targets) still holds the pushed bytes.
    const { env, s3 } = localClients();
    const object = await s3.send(new GetObjectCommand({ Bucket: env.RELEASES_BUCKET!, Key: `accounts/${a.accountId}/apps/${app.appId}/releases/${created.releaseId}` }));
    expect(Buffer.from(await object.Body!.transformToByteArray()).equals(bytes)).toBe(true);
  });

  it('a large push: part URLs are renewed for the parts still to send, and completion is idempotent even after S3 completed', async () => {
    // Prepare: two parts (the first 8 MiB, the second small).
    const a = await pushingAccount();
    const app = (await a.owner('POST', '/apps', { name: 'web' })).body;
    const bytes = randomBytes(8 * 1024 * 1024 + 1000);
    const digest = createHash('sha256').update(bytes).digest('hex');
    const created = (await a.deployer.call('POST', `/apps/${app.appId}/releases`, { version: 'big', size: bytes.length })).body;
    const manifest = plainManifestOf({ accountId: a.accountId, appId: app.appId, releaseId: created.releaseId }, bytes, a.signingKeys.deployer);
    expect(created.upload).toMatchObject({ type: 'multipart', partSize: 8 * 1024 * 1024 });
    expect(created.upload.parts).toHaveLength(2);

    // Act: part 1 through its first URL; part 2 through a renewed one.
    const first = await fetch(created.upload.parts[0].url, { method: 'PUT', body: bytes.subarray(0, 8 * 1024 * 1024) });
    const renewed = await a.deployer.call('POST', `/apps/${app.appId}/releases/${created.releaseId}/upload`, { parts: [2] });
    expect(renewed.status).toBe(200);
    expect(renewed.body.parts.map((p: { partNumber: number }) => p.partNumber)).toEqual([2]);
    expect(Date.parse(renewed.body.expiresAt)).toBeGreaterThanOrEqual(Date.parse(created.upload.expiresAt));
    expect((await a.deployer.call('POST', `/apps/${app.appId}/releases/${created.releaseId}/upload`, { parts: [3] })).status).toBe(400);
    const second = await fetch(renewed.body.parts[0].url, { method: 'PUT', body: bytes.subarray(8 * 1024 * 1024) });
    const parts = [first, second].map((response, i) => ({ partNumber: i + 1, etag: response.headers.get('etag')! }));

    // S3 completes the upload, but the answer never reaches the pusher (an API call that ran
    // out of time): the pusher completes again.
    const { env, s3 } = localClients();
    const release = (await localClients().dynamo.send(new GetCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: { pk: `ACCOUNT#${a.accountId}`, sk: `RELEASE#${created.releaseId}` } }))).Item;
    expect(release?.uploadId).toBeTruthy();
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: env.RELEASES_BUCKET!,
        Key: release!.objectKey,
        UploadId: release!.uploadId,
        MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
      }),
    );
    const completed = await a.deployer.call('POST', `/apps/${app.appId}/releases/${created.releaseId}/complete`, { digest, manifest, parts });

    // Assess
    expect(completed.status).toBe(200);
    expect(completed.body).toMatchObject({ state: 'ready', size: bytes.length, digest });
    expect((await a.deployer.call('POST', `/apps/${app.appId}/releases/${created.releaseId}/complete`, { digest, manifest, parts })).status).toBe(200);
    // Its part URLs died with the upload: nothing more goes through them.
    expect((await fetch(renewed.body.parts[0].url, { method: 'PUT', body: Buffer.alloc(10) })).ok).toBe(false);
    expect((await a.deployer.call('POST', `/apps/${app.appId}/releases/${created.releaseId}/upload`, {})).status).toBe(409);
  });

  it('refuses an upload of another size than announced', async () => {
    const a = await pushingAccount();
    const app = (await a.owner('POST', '/apps', { name: 'web' })).body;
    const created = (await a.owner('POST', `/apps/${app.appId}/releases`, { version: '1', size: 10 })).body;
    await fetch(created.upload.url, { method: 'PUT', body: Buffer.alloc(12) }).catch(() => undefined);
    const manifest = plainManifestOf({ accountId: a.accountId, appId: app.appId, releaseId: created.releaseId }, Buffer.alloc(10), a.signingKeys.owner);
    const completed = await a.owner('POST', `/apps/${app.appId}/releases/${created.releaseId}/complete`, { manifest });
    expect(completed.status).toBe(409);
  });

  it('lists newest first, and another account sees nothing', async () => {
    const [a, b] = await Promise.all([newAccount(), newAccount()]);
    const app = (await a.owner('POST', '/apps', { name: 'web' })).body;
    for (const version of ['1', '2', '3']) await a.owner('POST', `/apps/${app.appId}/releases`, { version, size: 1 });
    expect((await a.owner('GET', `/apps/${app.appId}/releases`)).body.items.map((r: { version: string }) => r.version)).toEqual(['3', '2', '1']);
    expect((await b.owner('GET', `/apps/${app.appId}/releases`)).status).toBe(404);
    expect((await b.owner('POST', `/apps/${app.appId}/releases`, { version: 'x', size: 1 })).status).toBe(404);
  });
});
