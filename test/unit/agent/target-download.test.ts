import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { create as createTar } from 'tar';
import { describe, expect, it, onTestFinished } from 'vitest';
import { readArchive } from '#agent/target/archive.ts';
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
  const archiveOf = async (files: Record<string, string>, links: Record<string, string> = {}) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-archive-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const src = path.join(dir, 'src');
    await mkdir(src);
    for (const [name, content] of Object.entries(files)) await writeFile(path.join(src, name), content);
    for (const [name, target] of Object.entries(links)) await symlink(target, path.join(src, name));
    const file = path.join(dir, 'release.tar.gz');
    await createTar({ gzip: true, file, cwd: src, portable: true }, ['.']);
    return file;
  };

  it('reads latchkey.yml and the member names, writing nothing', async () => {
    const read = await readArchive(await archiveOf({ 'latchkey.yml': 'install: echo hi\n', 'index.html': 'x' }));
    expect(read.manifest).toBe('install: echo hi\n');
    expect(read.entries.map((e) => e.path).sort()).toEqual(['', 'index.html', 'latchkey.yml']);
  });

  it('refuses a latchkey.yml that is a link (it would be read through it on disk)', async () => {
    await expect(readArchive(await archiveOf({}, { 'latchkey.yml': '/var/lib/latchkey/agent.key' }))).rejects.toMatchObject({ code: 'ManifestInvalid', message: 'latchkey.yml is a SymbolicLink, not a file' });
  });

  it('refuses what is not an archive', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-archive-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'x.tar.gz'), 'not gzip at all');
    await expect(readArchive(path.join(dir, 'x.tar.gz'))).rejects.toMatchObject({ code: 'UnpackFailed' });
  });
});
