import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackages, ROOT, type Packages } from '../../../packaging/build.ts';
import { bundleOptions } from '../../../packaging/bundle.ts';
import { DEB_PATHS } from '../../../packaging/deb.ts';

const run = promisify(execFile);

/** `tar -tvzf` / `dpkg-deb -c` lines as mode, owner, size and path (a link's target after `->`). */
const listing = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((line) => {
      const [mode, owner, size, , , ...rest] = line.trim().split(/\s+/);
      const [name, target] = rest.join(' ').split(' -> ');
      return { mode: mode!, owner: owner!, size: Number(size), path: name!.replace(/^\.\//, '/'), ...(target ? { target } : {}) };
    });

let dir: string;
let built: Packages;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'latchkey-packaging-unit-'));
  built = await buildPackages({ outDir: path.join(dir, 'dist') });
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('npm packages (npm run package)', () => {
  for (const name of ['latchkey', 'latchkey-agent'] as const) {
    it(`${name}: one bundled entry file with its chunks, and a package.json with no dependencies, its bin entry naming that file`, async () => {
      // Prepare
      const tarball = built.tarballs[name];
      // Act
      const { stdout } = await run('tar', ['-tvzf', tarball]);
      const manifest = JSON.parse((await run('tar', ['-xzOf', tarball, 'package/package.json'])).stdout) as Record<string, unknown>;
      // Assess
      expect(path.basename(tarball)).toBe(`${name}-${built.version}.tgz`);
      const files = listing(stdout);
      const chunks = files.filter((f) => f.path.startsWith('package/chunks/'));
      expect(files.filter((f) => !chunks.includes(f)).map((f) => f.path).sort()).toEqual(['package/THIRD-PARTY-NOTICES.txt', `package/${name}.mjs`, 'package/package.json']);
      expect(chunks.length).toBeGreaterThan(0);
      for (const chunk of chunks) expect(chunk).toMatchObject({ path: expect.stringMatching(/^package\/chunks\/[\w-]+\.mjs$/), mode: '-rw-r--r--' });
      // The licences of what the bundle carries travel with it, each package's own text.
      const notices = (await run('tar', ['-xzOf', tarball, 'package/THIRD-PARTY-NOTICES.txt'])).stdout;
      for (const bundled of ['zod', 'commander', '@hpke/core', 'tar']) expect(notices).toMatch(new RegExp(`^${bundled} \\d+\\.\\d+\\.\\d+ \\(`, 'm'));
      expect(notices).toContain('Permission is hereby granted, free of charge');
      expect(files.find((f) => f.path === `package/${name}.mjs`)!.mode).toBe('-rwxr-xr-x');
      expect(manifest).toMatchObject({ name, version: built.version, type: 'module', bin: { [name]: `${name}.mjs` }, engines: { node: '>=20' } });
      for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies', 'bundleDependencies', 'scripts']) expect(manifest[field]).toBeUndefined();
      // Everything else is inside: what the bundle still imports is Node's own.
      expect(built.runtimeImports[name].filter((specifier) => !specifier.startsWith('node:') && !builtinModules.includes(specifier))).toEqual([]);
    });
  }

  it('what every command compiles at start leaves out what only some commands need', () => {
    // The CLI: push's tar, release pipeline (worker threads) and HPKE, and the passkeys' WebAuthn/X.509 stack.
    const cli = built.loadedAtStart.latchkey;
    expect(cli).toContain('cli/main.ts');
    expect(cli).toContain('cli/commands/deployments.ts');
    for (const lazy of ['node_modules/tar/', 'shared/crypto/release-stream.ts', 'shared/crypto/chunk-runner.ts', 'node_modules/@hpke/', 'node_modules/@simplewebauthn/', 'node_modules/@peculiar/', 'cli/push/push-release.ts']) {
      expect(cli.filter((file) => file.includes(lazy))).toEqual([]);
    }
    // The agent: the SQS client loads for `run` only.
    expect(built.loadedAtStart['latchkey-agent']).toContain('agent/main.ts');
    expect(built.loadedAtStart['latchkey-agent'].filter((file) => file.includes('node_modules/@aws-sdk/'))).toEqual([]);
  });

  it('the bundles start with a node shebang and print their version, nothing on stderr', async () => {
    const unpacked = path.join(dir, 'unpacked');
    await mkdir(unpacked, { recursive: true });
    for (const name of ['latchkey', 'latchkey-agent'] as const) {
      await mkdir(path.join(unpacked, name));
      await run('tar', ['-xzf', built.tarballs[name], '-C', path.join(unpacked, name)]);
      const bundle = path.join(unpacked, name, 'package', `${name}.mjs`);
      expect((await readFile(bundle, 'utf8')).split('\n', 1)[0]).toBe('#!/usr/bin/env node');
      const { stdout, stderr } = await run(process.execPath, [bundle, '--version'], { cwd: tmpdir(), env: { PATH: process.env.PATH ?? '' } });
      expect({ stdout, stderr }).toEqual({ stdout: `${built.version}\n`, stderr: '' });
    }
  });

  it('minified, the release pipeline’s worker threads (code sent as source text) seal exactly as inline', async () => {
    // Prepare: an entry that seals one release on workers and inline, bundled as the binaries are.
    const entry = path.join(dir, 'workers-entry.ts');
    await writeFile(
      entry,
      [
        `import { encryptReleaseWith } from '${path.join(ROOT, 'shared/crypto/release-stream.ts')}';`,
        `import { generateReleaseKey } from '${path.join(ROOT, 'shared/crypto/index.ts')}';`,
        `import { releaseContext as context } from '${path.join(ROOT, 'test/unit/crypto/helpers.ts')}';`,
        'const key = generateReleaseKey(); const salt = Buffer.alloc(32, 9); const input = Buffer.alloc(3_000_000, 7);',
        "const seal = (threads: 'workers' | 'inline') => encryptReleaseWith({ input, outputPath: `${process.argv[2]}.${threads}`, releaseKey: key, context }, { salt, threads });",
        "process.stdout.write(JSON.stringify((await seal('workers'))) === JSON.stringify(await seal('inline')) ? 'same' : 'different');",
      ].join('\n'),
    );
    const outdir = path.join(dir, 'workers');
    await build({ ...bundleOptions(ROOT, entry, outdir, built.version), logLevel: 'silent' });
    // Act
    const { stdout } = await run(process.execPath, [path.join(outdir, 'workers-entry.mjs'), path.join(dir, 'sealed')]);
    // Assess
    expect(stdout).toBe('same');
  });
});

describe('the agent deb', () => {
  it('control fields: architecture all, Node 20 or later, the tools the maintainer scripts use', async () => {
    const field = async (name: string) => (await run('dpkg-deb', ['-f', built.deb, name])).stdout.trim();
    expect(path.basename(built.deb)).toBe(`latchkey-agent_${built.version}_all.deb`);
    expect(await field('Package')).toBe('latchkey-agent');
    expect(await field('Version')).toBe(built.version);
    expect(await field('Architecture')).toBe('all');
    expect(await field('Depends')).toBe('nodejs (>= 20), passwd, util-linux');
    expect(Number(await field('Installed-Size'))).toBeGreaterThan(100);
  });

  it('files: the bundle (0755) and its chunks, the command linked to it, the unit and the licences (0644), all root’s', async () => {
    const all = listing((await run('dpkg-deb', ['-c', built.deb])).stdout).filter((f) => !f.mode.startsWith('d'));
    const chunks = all.filter((f) => f.path.startsWith(`${path.dirname(DEB_PATHS.bundle)}/chunks/`));
    expect(chunks.length).toBeGreaterThan(0);
    for (const chunk of chunks) expect(chunk).toMatchObject({ path: expect.stringMatching(/\/[\w-]+\.mjs$/), mode: '-rw-r--r--', owner: 'root/root' });
    const files = all.filter((f) => !chunks.includes(f));
    expect(files).toEqual([
      expect.objectContaining({ path: DEB_PATHS.unit, mode: '-rw-r--r--', owner: 'root/root' }),
      expect.objectContaining({ path: DEB_PATHS.bundle, mode: '-rwxr-xr-x', owner: 'root/root' }),
      expect.objectContaining({ path: DEB_PATHS.copyright, mode: '-rw-r--r--', owner: 'root/root' }),
      expect.objectContaining({ path: DEB_PATHS.command, mode: 'lrwxrwxrwx', owner: 'root/root', target: '../lib/latchkey-agent/latchkey-agent.mjs' }),
    ]);
    const dirs = listing((await run('dpkg-deb', ['-c', built.deb])).stdout).filter((f) => f.mode.startsWith('d'));
    expect(dirs.every((d) => d.mode === 'drwxr-xr-x' && d.owner === 'root/root')).toBe(true);
  });

  it('maintainer scripts: POSIX sh with set -e, each parses', async () => {
    const control = path.join(dir, 'control');
    await run('dpkg-deb', ['-e', built.deb, control]);
    for (const script of ['postinst', 'prerm', 'postrm']) {
      const text = await readFile(path.join(control, script), 'utf8');
      expect(text.startsWith('#!/bin/sh\n')).toBe(true);
      expect(text).toMatch(/^set -e$/m);
      await run('sh', ['-n', path.join(control, script)]);
    }
  });

  it.skipIf(!existsSync('/usr/bin/systemd-analyze'))('the unit passes `systemd-analyze verify`, its ExecStart resolved inside the package', async () => {
    // Prepare: the package's files as a root directory, with this machine's units beside them (the
    // targets the unit names). Verified there, ExecStart must be the package's own command: the
    // check fails if /usr/bin/latchkey-agent is missing or not executable in the package.
    const root = path.join(dir, 'root');
    await run('dpkg-deb', ['-x', built.deb, root]);
    await cp('/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true });
    // Act
    const verified = await run('systemd-analyze', ['verify', `--root=${root}`, DEB_PATHS.unit]).catch((error: { stderr: string; code: number }) => error);
    // Assess: no error and no warning (an unknown key is only a warning).
    expect(verified.stderr).toBe('');
    const unit = await readFile(path.join(root, DEB_PATHS.unit), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/latchkey-agent run --state \/var\/lib\/latchkey$/m);
    expect(unit).toMatch(/^User=latchkey$/m);
    expect(unit).toMatch(/^AmbientCapabilities=CAP_SETUID CAP_SETGID$/m);
  });
});

it('SHA256SUMS: sha256sum -c accepts every package', async () => {
  const { stdout } = await run('sha256sum', ['-c', 'SHA256SUMS'], { cwd: path.dirname(built.checksums) });
  expect(stdout.trim().split('\n').sort()).toEqual([path.basename(built.deb), path.basename(built.tarballs.latchkey), path.basename(built.tarballs['latchkey-agent'])].map((f) => `${f}: OK`).sort());
});
