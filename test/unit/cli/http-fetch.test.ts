import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpFetch } from '../../../cli/http-fetch.ts';

type Seen = { method: string; url: string; headers: http.IncomingHttpHeaders; body: string };

describe('httpFetch (the CLI\'s fetch on node:http)', () => {
  const seen: Seen[] = [];
  let base = '';
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      seen.push({ method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks).toString() });
      if (request.url === '/slow') return; // never answers
      if (request.url === '/problem') {
        response.writeHead(404, 'Not Found', { 'content-type': 'application/problem+json' }).end('{"title":"No such thing"}');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json', etag: '"abc"' }).end(JSON.stringify({ ü: 'ok' }));
    });
  });
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('sends a JSON body with its length and reads the answer as text', async () => {
    const answer = await httpFetch(`${base}/users?limit=2`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer t' }, body: '{"name":"Ada Lovelace"}' });
    expect(answer).toMatchObject({ ok: true, status: 200 });
    expect(answer.headers.get('ETag')).toBe('"abc"');
    expect(answer.headers.get('x-missing')).toBeNull();
    expect(JSON.parse(await answer.text())).toEqual({ ü: 'ok' });
    expect(seen.at(-1)).toMatchObject({ method: 'POST', url: '/users?limit=2', body: '{"name":"Ada Lovelace"}' });
    expect(seen.at(-1)!.headers).toMatchObject({ 'content-length': '23', authorization: 'Bearer t' });
  });

  it('streams a body from a readable with the length the caller gives (as S3\'s presigned PUTs need)', async () => {
    const parts = [Buffer.alloc(70_000, 1), Buffer.alloc(30_000, 2)];
    const answer = await httpFetch(`${base}/put`, { method: 'PUT', headers: { 'content-length': '100000' }, body: Readable.from(parts), duplex: 'half' });
    expect(answer.ok).toBe(true);
    expect(seen.at(-1)!.headers['content-length']).toBe('100000');
    expect(seen.at(-1)!.headers['transfer-encoding']).toBeUndefined();
    expect(Buffer.from(seen.at(-1)!.body, 'latin1').length).toBe(100_000);
  });

  it('answers a non-2xx status as not ok, with its status text', async () => {
    const answer = await httpFetch(`${base}/problem`, { method: 'GET', headers: {} });
    expect(answer).toMatchObject({ ok: false, status: 404, statusText: 'Not Found' });
    expect(await answer.text()).toBe('{"title":"No such thing"}');
  });

  it('fails as fetch does: a TypeError whose cause carries the socket\'s code', async () => {
    const closed = http.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    for (const scheme of ['http', 'https']) {
      const error = (await httpFetch(`${scheme}://127.0.0.1:${port}/`, { method: 'GET', headers: {} }).catch((e: unknown) => e)) as TypeError & { cause: { code: string } };
      expect(error).toBeInstanceOf(TypeError);
      expect(error.cause.code).toBe('ECONNREFUSED');
    }
  });

  it('rejects with the signal\'s reason when it times out', async () => {
    const error = (await httpFetch(`${base}/slow`, { method: 'GET', headers: {}, signal: AbortSignal.timeout(50) }).catch((e: unknown) => e)) as Error;
    expect(error.name).toBe('TimeoutError');
  });

  it('refuses a URL that is neither http nor https', async () => {
    await expect(httpFetch('file:///etc/passwd', { method: 'GET', headers: {} })).rejects.toThrow(TypeError);
  });
});
