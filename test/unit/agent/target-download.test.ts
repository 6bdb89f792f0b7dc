import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { create as createTar, Parser as TarParser } from 'tar';
import { describe, expect, it, onTestFinished } from 'vitest';
import { readArchive, tarStream } from '../../support/read-archive.ts';
import { ARCHIVE_CODECS, type ArchiveCodec } from '#shared/crypto/manifest.ts';
import { openDownload, underOrigin } from '#agent/target/download.ts';
import { createLogger } from '#agent/log.ts';

describe('a target downloads only under the releases origin of its session', () => {
  const origin = 'http://127.0.0.1:4566/latchkey-releases/';

  it.each([
    ['http://127.0.0.1:4566/latchkey-releases/accounts/a/r.tgz?X-Amz-Signature=1', true],
    ['http://127.0.0.1:4566/latchkey-releases', false],
    ['http://127.0.0.1:4566/other-bucket/accounts/a/r.tgz', false],
    ['http://127.0.0.1:4566/latchkey-releases/../other-bucket/x', false],
    ['http://127.0.0.1:4566/latchkey-releases/%2e%2e/other-bucket/x', false],
    ['http://127.0.0.1:4567/latchkey-releases/x', false],
    ['https://127.0.0.1:4566/latchkey-releases/x', false],
    ['http://169.254.169.254/latest/meta-data/', false],
    ['http://user:pass@127.0.0.1:4566/latchkey-releases/x', false],
    ['http://127.0.0.1:4566@evil.example/latchkey-releases/x', false],
    ['not a url', false],
  ])('%s: %s', (url, allowed) => {
    expect(underOrigin(url, origin)).toBe(allowed);
  });

  it('a virtual-hosted bucket is its own origin', () => {
    expect(underOrigin('https://b.s3.eu-west-1.amazonaws.com/k?sig', 'https://b.s3.eu-west-1.amazonaws.com/')).toBe(true);
    expect(underOrigin('https://c.s3.eu-west-1.amazonaws.com/k?sig', 'https://b.s3.eu-west-1.amazonaws.com/')).toBe(false);
  });
});

describe('what the agent reads of an archive itself', () => {
  const archiveOf = async (files: Record<string, string>, links: Record<string, string> = {}, codec: ArchiveCodec = 'tar+gzip') => {
    const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-archive-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const src = path.join(dir, 'src');
    await mkdir(src);
    for (const [name, content] of Object.entries(files)) await writeFile(path.join(src, name), content);
    for (const [name, target] of Object.entries(links)) await symlink(target, path.join(src, name));
    const file = path.join(dir, 'release.archive');
    await createTar({ ...(codec === 'tar+gzip' ? { gzip: true } : codec === 'tar+brotli' ? { brotli: true } : {}), file, cwd: src, portable: true }, ['.']);
    return file;
  };

  it.each(ARCHIVE_CODECS)('%s: reads latchkey.yml and the member names, writing nothing; the tar stream for tar -x is the archive unpacked', async (codec) => {
    // Prepare
    const file = await archiveOf({ 'latchkey.yml': 'install: echo hi\n', 'index.html': 'x' }, {}, codec);
    // Act
    const read = await readArchive(file, codec);
    const tar = tarStream(file, codec);
    const names: string[] = [];
    await pipeline(tar.stream, new TarParser({ strict: true, onReadEntry: (entry) => (names.push(entry.path), entry.resume()) }));
    // Assess
    expect(read.manifest).toBe('install: echo hi\n');
    expect(read.entries.map((e) => e.path).sort()).toEqual(['', 'index.html', 'latchkey.yml']);
    expect(names.sort()).toEqual(['./', './index.html', './latchkey.yml']);
    expect(tar.failed()).toBeUndefined();
  });

  it('an archive cut short: the tar stream ends, and says it failed', async () => {
    // Prepare
    const file = await archiveOf({ 'big.bin': randomBytes(300_000).toString('base64') }, {}, 'tar+brotli');
    await truncate(file, (await stat(file)).size - 1000);
    // Act
    const tar = tarStream(file, 'tar+brotli');
    for await (const chunk of tar.stream) void chunk;
    // Assess
    expect(tar.failed()).toBeInstanceOf(Error);
  });

  it('reads the archive as the signed codec says, not as its bytes suggest', async () => {
    const gzip = await archiveOf({ 'index.html': 'x' }, {}, 'tar+gzip');
    await expect(readArchive(gzip, 'tar+brotli')).rejects.toMatchObject({ code: 'UnpackFailed' });
  });

  it('refuses a latchkey.yml that is a link (it would be read through it on disk)', async () => {
    await expect(readArchive(await archiveOf({}, { 'latchkey.yml': '/var/lib/latchkey/agent.key' }), 'tar+gzip')).rejects.toMatchObject({ code: 'ManifestInvalid', message: 'latchkey.yml is a SymbolicLink, not a file' });
  });

  it('refuses what is not an archive', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-archive-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'x.tar.gz'), 'not gzip at all');
    await expect(readArchive(path.join(dir, 'x.tar.gz'), 'tar+gzip')).rejects.toMatchObject({ code: 'UnpackFailed' });
  });
});

describe('the download itself (node:http, not fetch)', () => {
  /** A loopback server answering `/release` with `body`, `/moved` with a redirect to it. */
  const server = async (body: Buffer) => {
    const s = http.createServer((request, response) => {
      if (request.url === '/bucket/moved') response.writeHead(302, { location: '/bucket/release' }).end();
      else response.writeHead(200, { 'content-length': body.byteLength }).end(body);
    });
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    onTestFinished(() => void s.close());
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}/bucket/`;
  };
  const lines: string[] = [];
  const log = createLogger('debug', (line) => void lines.push(line));
  const read = async (stream: Readable) => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };

  it('streams the object; progress is logged by counts only', async () => {
    const body = randomBytes(3_000_000);
    const origin = await server(body);
    const got = await read(await openDownload(`${origin}release`, { origin, size: body.byteLength, log, fields: { deploymentId: 'dep_1' } }));
    expect(got.equals(body)).toBe(true);
    expect(lines.some((line) => line.includes('"percent":100'))).toBe(true);
  });

  it('does not follow a redirect, even within the origin', async () => {
    const origin = await server(Buffer.from('x'));
    await expect(openDownload(`${origin}moved`, { origin, size: 1, log, fields: {} })).rejects.toMatchObject({ code: 'DownloadFailed', message: expect.stringContaining('HTTP 302') });
  });

  it('stops at the first byte past the size the manifest names', async () => {
    const origin = await server(randomBytes(100_000));
    await expect(read(await openDownload(`${origin}release`, { origin, size: 50_000, log, fields: {} }))).rejects.toMatchObject({ code: 'IntegrityCheckFailed' });
  });
});
