import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readlink, rename, rm, symlink, unlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { globToRegExp, matchesAny } from './glob.ts';
import { MANIFEST_FILE } from './latchkey-yml.ts';

/**
 * Where a target keeps an application, inside its private state directory:
 *
 *   deploy/<appId>/releases/<ms since epoch>-<deploymentId>/   one directory per installed release
 *   deploy/<appId>/current -> releases/…                        the live one (a symlink, switched by rename)
 *   deploy/<appId>/staging/                                     downloads being decrypted; emptied after each
 */
export const appLayout = (stateDir: string, appId: string) => {
  const root = join(stateDir, 'deploy', appId);
  return { root, releases: join(root, 'releases'), current: join(root, 'current'), staging: join(root, 'staging') };
};
export type AppLayout = ReturnType<typeof appLayout>;

/** Names sort by install time: the prefix is a fixed-width millisecond timestamp. */
export const releaseDirName = (at: number, deploymentId: string) => `${String(at).padStart(15, '0')}-${deploymentId}`;

export const prepareLayout = async (layout: AppLayout) => {
  await mkdir(layout.releases, { recursive: true, mode: 0o700 });
  await mkdir(layout.staging, { recursive: true, mode: 0o700 });
};

/** The release directory `current` points to, if any. */
export const currentRelease = async (layout: AppLayout): Promise<string | undefined> =>
  readlink(layout.current).then(
    (target) => target.split('/').pop(),
    (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(error)),
  );

/** Points `current` at a release in one step: a new symlink renamed over the old one. */
export const switchCurrent = async (layout: AppLayout, name: string) => {
  const temp = `${layout.current}.${randomBytes(6).toString('hex')}`;
  await symlink(join('releases', name), temp);
  try {
    await rename(temp, layout.current);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
};

/** Keeps the newest `keep` release directories and the current one; removes the rest. */
export const pruneReleases = async (layout: AppLayout, keep: number) => {
  const current = await currentRelease(layout);
  const names = (await readdir(layout.releases)).sort().reverse();
  const removed: string[] = [];
  for (const name of names.slice(keep)) {
    if (name === current) continue;
    await rm(join(layout.releases, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
};

/** Removes every file of `dir` that no include pattern matches (the manifest itself stays). */
export const keepIncluded = async (dir: string, patterns: readonly string[]) => {
  const regexps = patterns.map(globToRegExp);
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      const rel = relative(dir, path);
      if (entry.isDirectory()) {
        await walk(path);
        if ((await readdir(path)).length === 0 && !matchesAny(rel, regexps)) await rm(path, { recursive: true });
      } else if (rel !== MANIFEST_FILE && !matchesAny(rel, regexps)) {
        await rm(path, { force: true });
      }
    }
  };
  await walk(dir);
};

/** Removes everything under `dir` but keeps `dir` itself. */
export const emptyDir = async (dir: string) => {
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
};

export const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );
