import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { bundleBinary } from './bundle.ts';
import { thirdPartyNotices } from './notices.ts';

const run = promisify(execFile);

/** Where the package puts things; the unit file and the maintainer scripts name the same paths. */
export const DEB_PATHS = {
  bundle: '/usr/lib/latchkey-agent/latchkey-agent.mjs',
  command: '/usr/bin/latchkey-agent',
  unit: '/lib/systemd/system/latchkey-agent.service',
  /** Debian's place for the licences of what a package holds. */
  copyright: '/usr/share/doc/latchkey-agent/copyright',
  state: '/var/lib/latchkey',
  releases: '/var/lib/latchkey-releases',
} as const;

export const DEB_USERS = { agent: 'latchkey', release: 'latchkey-release' } as const;

/** The release tree is plain JavaScript for Node: one package serves every architecture. */
export const DEB_ARCHITECTURE = 'all';

const FILES = path.join(import.meta.dirname, 'deb');

const control = (version: string, installedKb: number) =>
  [
    'Package: latchkey-agent',
    `Version: ${version}`,
    `Architecture: ${DEB_ARCHITECTURE}`,
    'Maintainer: Latchkey maintainers <latchkey@example.invalid>',
    'Section: admin',
    'Priority: optional',
    // setpriv (util-linux) starts release code as the release user; useradd (passwd) makes the users.
    'Depends: nodejs (>= 20), passwd, util-linux',
    `Installed-Size: ${installedKb}`,
    'Description: Latchkey agent: key server or deployment target',
    ' Holds the keys of a Latchkey account on your machines, the backend never sees them,',
    ' and installs releases as a separate, unprivileged user (latchkey-release).',
    ' The systemd unit is installed but not enabled: enrol the machine first.',
    '',
  ].join('\n');

/** Bytes of the files the package installs (DEBIAN/ aside), in KiB rounded up, as Installed-Size counts them. */
const installedKb = async (tree: string) => {
  let bytes = 0;
  for (const entry of await readdir(tree, { withFileTypes: true, recursive: true })) {
    const file = path.join(entry.parentPath, entry.name);
    if (entry.isFile() && !path.relative(tree, file).startsWith('DEBIAN')) bytes += (await stat(file)).size;
  }
  return Math.ceil(bytes / 1024);
};

/**
 * `latchkey-agent_<version>_all.deb`: the bundled agent, a `latchkey-agent` command, the systemd
 * unit and the maintainer scripts (packaging/deb/), built as a tree under `workDir` and packed by
 * `dpkg-deb --build --root-owner-group` (every file root's; modes set here, not by the umask).
 */
export const buildDeb = async (options: { root: string; version: string; workDir: string; outDir: string }) => {
  const tree = path.join(options.workDir, 'deb-latchkey-agent');
  await rm(tree, { recursive: true, force: true });
  const at = (absolute: string) => path.join(tree, absolute);
  for (const dir of [path.dirname(DEB_PATHS.bundle), path.dirname(DEB_PATHS.command), path.dirname(DEB_PATHS.unit), path.dirname(DEB_PATHS.copyright), 'DEBIAN']) {
    await mkdir(at(dir), { recursive: true });
  }
  const { metafile } = await bundleBinary(options.root, 'latchkey-agent', at(path.dirname(DEB_PATHS.bundle)), options.version);
  await symlink(path.relative(path.dirname(DEB_PATHS.command), DEB_PATHS.bundle), at(DEB_PATHS.command));
  await writeFile(at(DEB_PATHS.copyright), await thirdPartyNotices(options.root, metafile, 'latchkey-agent'), { mode: 0o644 });
  await copyFile(path.join(FILES, 'latchkey-agent.service'), at(DEB_PATHS.unit));
  await chmod(at(DEB_PATHS.unit), 0o644);
  for (const script of ['postinst', 'prerm', 'postrm']) {
    await copyFile(path.join(FILES, script), at(`DEBIAN/${script}`));
    await chmod(at(`DEBIAN/${script}`), 0o755);
  }
  await writeFile(at('DEBIAN/control'), control(options.version, await installedKb(tree)), { mode: 0o644 });
  for (const entry of await readdir(tree, { withFileTypes: true, recursive: true })) {
    if (entry.isDirectory()) await chmod(path.join(entry.parentPath, entry.name), 0o755);
  }
  await chmod(tree, 0o755);
  const deb = path.join(options.outDir, `latchkey-agent_${options.version}_${DEB_ARCHITECTURE}.deb`);
  await run('dpkg-deb', ['--build', '--root-owner-group', tree, deb]);
  return { deb, metafile };
};
