import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { create as createTar, Parser as TarParser } from 'tar';
import { describe, expect, it, onTestFinished } from 'vitest';
import { readArchive, tarStream } from '#agent/target/archive.ts';
import { ARCHIVE_CODECS, type ArchiveCodec } from '#shared/crypto/manifest.ts';
import { underOrigin } from '#agent/target/download.ts';

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
