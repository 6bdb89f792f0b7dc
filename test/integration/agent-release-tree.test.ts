import { chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { create as createTar } from 'tar';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Isolation } from '#agent/isolation/release-user.ts';
import { excludedPaths } from '#agent/target/archive.ts';
import { readArchive, tarStream } from '../support/read-archive.ts';
import { appTree, releaseDirName, releaseTree } from '#agent/target/release-tree.ts';
import { unixUsers } from '../support/agents.ts';

/**
 * The release tree operations of agent/target/release-tree.ts, run for real as the release user
 * of this test run (global-setup.ts): what the agent asks of that user, and only that.
 */
const setup = async () => {
  const { release } = unixUsers();
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-tree-it-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  await chown(dir, release.uid, release.gid);
  const isolation: Isolation = { user: { ...release, home: '/' }, releasesDir: dir, setpriv: '/usr/bin/setpriv' };
  const logged: string[] = [];
  return { isolation, tree: appTree(dir, 'app_1'), ops: releaseTree(isolation, 10_000, (text) => logged.push(text)), logged };
};

const depId = (n: number) => `dep_${String(n).padStart(32, '0')}`;

describe('the release tree, kept by the release user', () => {
  it('unpacks an archive fed on stdin into a directory of the release user, keeps what latchkey.yml includes, and switches `current` by rename', async () => {
    const { isolation, tree, ops } = await setup();
    const src = await mkdtemp(path.join(tmpdir(), 'latchkey-tree-src-'));
    onTestFinished(() => rm(src, { recursive: true, force: true }));
    for (const file of ['secret.cred.dev', 'README.txt', 'latchkey.yml', 'lib/a.js', 'lib/b.txt']) {
      await mkdir(path.dirname(path.join(src, file)), { recursive: true });
      await writeFile(path.join(src, file), file);
    }
    const archive = path.join(src, '..', `${path.basename(src)}.tar.gz`);
    onTestFinished(() => rm(archive, { force: true }));
    await createTar({ gzip: true, file: archive, cwd: src, portable: true }, ['.']);

    await ops.prepare(tree);
    const name = releaseDirName(Date.now(), depId(1));
    const dir = path.join(tree.releases, name);
    const unpacked = await ops.extract(dir, tarStream(archive, 'tar+gzip').stream);
    expect(unpacked.code, unpacked.stderr).toBe(0);
    await ops.remove(dir, excludedPaths((await readArchive(archive, 'tar+gzip')).entries, ['secret.cred.*', 'lib/*.js']));
    await ops.switchCurrent(tree, name);

    expect((await readdir(dir, { recursive: true })).sort()).toEqual(['latchkey.yml', 'lib', 'lib/a.js', 'secret.cred.dev']);
    expect((await lstat(path.join(dir, 'lib/a.js'))).uid).toBe(isolation.user.uid);
    expect((await lstat(tree.current)).isSymbolicLink()).toBe(true);
    expect(await readlink(tree.current)).toBe(`releases/${name}`);
    expect(await ops.current(tree)).toBe(name);
  });

  it('keeps the newest N release directories and the current one, and removes the rest', async () => {
    const { tree, ops } = await setup();
    await ops.prepare(tree);
    const names = Array.from({ length: 7 }, (_, i) => releaseDirName(1_700_000_000_000 + i, depId(i)));
    for (const name of names) {
      expect((await ops.extract(path.join(tree.releases, name), Readable.from(await smallTar()))).code).toBe(0); // as if promoted from incoming/
    }
    await ops.switchCurrent(tree, names[0]!); // a rollback made the oldest current

    const removed = await ops.prune(tree, 3);

    expect((await readdir(tree.releases)).sort()).toEqual([names[0], ...names.slice(4)].sort());
    expect(removed.sort()).toEqual(names.slice(1, 4).sort());
  });
});

/** A tar.gz of one small file, to make release directories with. */
const smallTar = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-tree-small-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'VERSION'), '1\n');
  await createTar({ file: path.join(dir, 'release.tar'), cwd: dir, portable: true }, ['VERSION']);
  return readFile(path.join(dir, 'release.tar'));
};
