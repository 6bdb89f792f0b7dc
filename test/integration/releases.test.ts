import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CompleteMultipartUploadCommand } from '@aws-sdk/client-s3';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { newAccount } from '../support/accounts.ts';
import { localClients } from '../support/clients.ts';

describe('releases: presigned upload, completion, listing', () => {
  it('a deployer uploads a release through the presigned URL and completes it', async () => {
    // Prepare
    const a = await newAccount();
    const app = (await a.owner('POST', '/apps', { name: 'web' })).body;
    const bytes = randomBytes(4096);
    const digest = createHash('sha256').update(bytes).digest('hex');

    // Act
    const created = await a.deployer.call('POST', `/apps/${app.appId}/releases`, { version: 'v1.0.0', size: bytes.length });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ state: 'uploading', encrypted: false, upload: { method: 'PUT' } });
    const early = await a.deployer.call('POST', `/apps/${app.appId}/releases/${created.body.releaseId}/complete`, { digest });
    expect(early.status).toBe(409);
    const upload = await fetch(created.body.upload.url, { method: 'PUT', body: bytes });
    expect(upload.status).toBe(200);
    const completed = await a.deployer.call('POST', `/apps/${app.appId}/releases/${created.body.releaseId}/complete`, { digest });

    // Assess
    expect(completed.status).toBe(200);
    expect(completed.body).toMatchObject({ state: 'ready', digest, size: 4096 });
    const again = await a.deployer.call('POST', `/apps/${app.appId}/releases/${created.body.releaseId}/complete`, { digest });
    expect(again.status).toBe(200);
    const other = await a.deployer.call('POST', `/apps/${app.appId}/releases/${created.body.releaseId}/complete`, { digest: 'a'.repeat(64) });
    expect(other.status).toBe(409);
    const listed = await a.approver.call('GET', `/apps/${app.appId}/releases`);
    expect(listed.body.items.map((r: { releaseId: string }) => r.releaseId)).toEqual([created.body.releaseId]);
  });

  it('a large push: part URLs are renewed for the parts still to send, and completion is idempotent even after S3 completed', async () => {
    // Prepare: two parts (the first 8 MiB, the second small).
    const a = await newAccount();
    const app = (await a.owner('POST', '/apps', { name: 'web' })).body;
    const bytes = randomBytes(8 * 1024 * 1024 + 1000);
    const digest = createHash('sha256').update(bytes).digest('hex');
    const created = (await a.deployer.call('POST', `/apps/${app.appId}/releases`, { version: 'big', size: bytes.length })).body;
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
    const completed = await a.deployer.call('POST', `/apps/${app.appId}/releases/${created.releaseId}/complete`, { digest, parts });

    // Assess
    expect(completed.status).toBe(200);
    expect(completed.body).toMatchObject({ state: 'ready', size: bytes.length, digest });
    expect((await a.deployer.call('POST', `/apps/${app.appId}/releases/${created.releaseId}/complete`, { digest, parts })).status).toBe(200);
    expect((await a.deployer.call('POST', `/apps/${app.appId}/releases/${created.releaseId}/upload`, {})).status).toBe(409);
  });

  it('refuses an upload of another size than announced', async () => {
    const a = await newAccount();
    const app = (await a.owner('POST', '/apps', { name: 'web' })).body;
    const created = (await a.owner('POST', `/apps/${app.appId}/releases`, { version: '1', size: 10 })).body;
    await fetch(created.upload.url, { method: 'PUT', body: Buffer.alloc(12) }).catch(() => undefined);
    const completed = await a.owner('POST', `/apps/${app.appId}/releases/${created.releaseId}/complete`, { digest: 'a'.repeat(64) });
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
