import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newAccount } from '../support/accounts.ts';

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
