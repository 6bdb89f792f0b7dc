import { posix } from 'node:path';
import { RequestRefused } from '../handlers/types.ts';
import type { Isolation } from '../isolation/release-user.ts';
import type { ArchiveCodec } from '#shared/crypto/manifest.ts';
import { excludedPaths, readArchive, tarStream } from './archive.ts';
import { ManifestError, parseLatchkeyYml, type LatchkeyYml } from './latchkey-yml.ts';
import { releaseTree, statusOf, type AppTree } from './release-tree.ts';
import { declaredVariables, scriptEnvironment, type ScriptFacts } from './script-env.ts';
import type { ScriptLog } from './script-log.ts';
import { runScript } from './scripts.ts';

/**
 * What the agent reads of a verified archive before anything of it runs or is written (DESIGN §6):
 * latchkey.yml, from the archive in its own process, and the variables the scripts get: only
 * those it declares, or a refusal naming the one it does not.
 */
export const readRelease = async (archive: string, codec: ArchiveCodec, variables: Record<string, string>) => {
  const { entries, manifest: text } = await readArchive(archive, codec);
  const manifest = manifestOf(text);
  return { archive, codec, entries, manifest, variables: declaredVariables(manifest, variables) };
};
export type ReadRelease = Awaited<ReturnType<typeof readRelease>>;

export type InstallOptions = {
  isolation: Isolation;
  tree: AppTree;
  /** The verified plaintext archive (in the agent's private staging directory), as read by readRelease. */
  release: ReadRelease;
  name: string;
  info: Omit<ScriptFacts, 'releaseDir'>;
  keep: number;
  scriptTimeoutMs: number;
  /** The local log of release code's output; its tail goes into a report only when `reportOutput`. */
  log: ScriptLog;
  reportOutput: boolean;
};

const manifestOf = (text: string | undefined): LatchkeyYml => {
  if (text === undefined) return { env: {} };
  try {
    return parseLatchkeyYml(text);
  } catch (error) {
    if (error instanceof ManifestError) throw new RequestRefused('ManifestInvalid', `${error.message}; nothing was installed`);
    throw error;
  }
};

/**
 * Installs a verified release archive, once read (readRelease) (DESIGN §5, §6):
 *   1. as the release user: unpack the archive (fed on stdin: that user cannot read the agent's
 *      staging) into a new release directory of the release tree, and wait for tar to exit; a
 *      refused archive fails here, at once;
 *   2. as the release user: delete what latchkey.yml does not include;
 *   3. run preInstall, install, postInstall there, as the release user, with an environment
 *      built from scratch (script-env.ts); their output goes to the local log;
 *   4. only if all succeed, switch `current` to it (one rename) and prune old releases.
 * On any failure the new directory is removed (by the release user, once nothing of the release
 * runs any more) and `current` stays where it was. Every failure is a refusal: deterministic,
 * never retried.
 */
export const installRelease = async (options: InstallOptions) => {
  const { isolation, tree, name, log } = options;
  const { archive, codec, entries, manifest, variables } = options.release;
  const dir = posix.join(tree.releases, name);
  const ops = releaseTree(isolation, options.scriptTimeoutMs, (text) => log.write(text));

  await ops.prepare(tree);
  const previous = await ops.current(tree);
  const stillCurrent = previous ? `current still points to ${previous}` : 'nothing is current';
  const output = () => (options.reportOutput ? `. Output:\n${log.tail()}` : "; the output is in the agent's local scripts log");
  let created = false;
  try {
    log.write('--- unpacking\n');
    const tar = tarStream(archive, codec);
    const unpacked = await ops.extract(dir, tar.stream);
    created = true;
    if (tar.failed()) {
      log.write(`${tar.failed()!.message}\n`);
      throw new RequestRefused('UnpackFailed', `the release archive is refused: it could not be read to its end; nothing was installed, ${stillCurrent}${output()}`);
    }
    if (unpacked.code !== 0) {
      log.write(unpacked.stderr);
      throw new RequestRefused('UnpackFailed', `the release archive is refused: unpacking it ${statusOf(unpacked)}; nothing was installed, ${stillCurrent}${output()}`);
    }
    if (manifest.include) await ops.remove(dir, excludedPaths(entries, manifest.include));
    const env = scriptEnvironment(variables, { ...options.info, releaseDir: dir }, isolation.user);
    for (const step of ['preInstall', 'install', 'postInstall'] as const) {
      const script = manifest[step];
      if (!script) continue;
      const result = await runScript(step, script, { isolation, cwd: dir, env, log, timeoutMs: options.scriptTimeoutMs });
      if (!result.ok) throw new RequestRefused('ScriptFailed', `${result.why}; ${stillCurrent}${output()}`);
    }
    await ops.switchCurrent(tree, name);
  } catch (error) {
    if (created) await ops.removeDir(dir).catch(() => {});
    throw error;
  }
  // Housekeeping: a release that cannot be pruned is still installed.
  const pruned = await ops.prune(tree, options.keep).catch(() => []);
  return { current: name, output: options.reportOutput ? log.tail() : '', pruned };
};
