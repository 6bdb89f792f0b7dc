import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BINARIES, bundleBinary, CHUNKS_DIR, type BinaryName } from './bundle.ts';
import { NOTICES_FILE, thirdPartyNotices } from './notices.ts';

const run = promisify(execFile);

/**
 * `<name>-<version>.tgz`: an npm package holding the bundled binary (and its lazily loaded chunks), the licences of what it
 * bundles, and a package.json with no
 * dependencies, so `npm install -g ./<name>-<version>.tgz` needs no registry and compiles
 * nothing. Made by `npm pack` on a package directory written under `workDir`.
 */
export const buildNpmPackage = async (options: { root: string; name: BinaryName; version: string; workDir: string; outDir: string }) => {
  const { root, name, version } = options;
  const dir = path.join(options.workDir, `npm-${name}`);
  await mkdir(dir, { recursive: true });
  const file = `${name}.mjs`;
  const { metafile } = await bundleBinary(root, name, dir, version);
  const manifest = {
    name,
    version,
    description: BINARIES[name].description,
    type: 'module',
    bin: { [name]: file },
    files: [file, CHUNKS_DIR, NOTICES_FILE],
    engines: { node: '>=20' },
  };
  await writeFile(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(path.join(dir, NOTICES_FILE), await thirdPartyNotices(root, metafile, name));
  // --ignore-scripts: there are none, and a pack must not run any; --offline: nor ask a registry
  // anything (npm's update check included). npm prints the file name last.
  const { stdout } = await run('npm', ['pack', dir, '--pack-destination', options.outDir, '--ignore-scripts', '--offline', '--silent'], { cwd: options.workDir });
  const tarball = path.join(options.outDir, stdout.trim().split('\n').pop()!);
  return { tarball, metafile };
};
