/**
 * `npm run package`: the release files, in dist/ (git-ignored), built offline from the sources
 * and the installed node_modules (the lock file's), by esbuild and the system's npm and dpkg-deb:
 *   latchkey-<version>.tgz             npm package of the CLI (one bundle and its lazily loaded chunks, no dependencies)
 *   latchkey-agent-<version>.tgz       npm package of the agent (the same)
 *   latchkey-agent_<version>_all.deb   the agent for Debian and Ubuntu, with its systemd unit
 *   SHA256SUMS                         `sha256sum -c SHA256SUMS` checks them
 * The version is the root package.json's. See packaging/README.md.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bytesAtStart, loadedAtStart, runtimeImports, type BinaryName } from './bundle.ts';
import { buildDeb } from './deb.ts';
import { buildNpmPackage } from './npm-package.ts';

export const ROOT = path.resolve(import.meta.dirname, '..');

export type Packages = {
  version: string;
  /** The npm tarballs by binary name. */
  tarballs: Record<BinaryName, string>;
  deb: string;
  checksums: string;
  /** What each bundle imports at run time (Node built-ins only). */
  runtimeImports: Record<BinaryName, string[]>;
  /** The sources each binary compiles at every start (the rest loads when a command needs it). */
  loadedAtStart: Record<BinaryName, string[]>;
  /** Bytes of JavaScript each binary compiles at every start. */
  bytesAtStart: Record<BinaryName, number>;
};

/** `<sha256>  <file>` lines, as `sha256sum` prints them, for files in one directory. */
export const sha256sums = async (files: string[]): Promise<string> => {
  const lines = await Promise.all(files.map(async (file) => `${createHash('sha256').update(await readFile(file)).digest('hex')}  ${path.basename(file)}`));
  return `${lines.join('\n')}\n`;
};

/** Builds the three packages and SHA256SUMS into `outDir` (emptied first). */
export const buildPackages = async (options: { outDir: string; root?: string }): Promise<Packages> => {
  const root = options.root ?? ROOT;
  const { version } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string };
  await rm(options.outDir, { recursive: true, force: true });
  await mkdir(options.outDir, { recursive: true });
  const workDir = await mkdtemp(path.join(tmpdir(), 'latchkey-package-'));
  try {
    const [cli, agent, deb] = await Promise.all([
      buildNpmPackage({ root, name: 'latchkey', version, workDir, outDir: options.outDir }),
      buildNpmPackage({ root, name: 'latchkey-agent', version, workDir, outDir: options.outDir }),
      buildDeb({ root, version, workDir, outDir: options.outDir }),
    ]);
    const files = [cli.tarball, agent.tarball, deb.deb];
    const checksums = path.join(options.outDir, 'SHA256SUMS');
    await writeFile(checksums, await sha256sums(files));
    return {
      version,
      tarballs: { latchkey: cli.tarball, 'latchkey-agent': agent.tarball },
      deb: deb.deb,
      checksums,
      runtimeImports: { latchkey: runtimeImports(cli.metafile), 'latchkey-agent': runtimeImports(agent.metafile) },
      loadedAtStart: { latchkey: loadedAtStart(cli.metafile), 'latchkey-agent': loadedAtStart(agent.metafile) },
      bytesAtStart: { latchkey: bytesAtStart(cli.metafile), 'latchkey-agent': bytesAtStart(agent.metafile) },
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
};

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const outDir = path.join(ROOT, 'dist');
  const built = await buildPackages({ outDir });
  for (const file of [built.tarballs.latchkey, built.tarballs['latchkey-agent'], built.deb, built.checksums]) {
    console.log(`${path.relative(ROOT, file)}  ${((await stat(file)).size / 1000).toFixed(1)} KB`);
  }
}
