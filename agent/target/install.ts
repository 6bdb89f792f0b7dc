import { posix } from 'node:path';
import { RequestRefused } from '../handlers/types.ts';
import type { Isolation } from '../isolation/release-user.ts';
import { PassThrough, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ArchiveCodec } from '#shared/crypto/manifest.ts';
import { archiveReader, excludedPaths, tarOf, unreadable } from './archive.ts';
import { ManifestError, parseLatchkeyYml, type LatchkeyYml } from './latchkey-yml.ts';
import { releaseTree, statusOf, type AppTree } from './release-tree.ts';
import { declaredVariables, scriptEnvironment, type ScriptFacts } from './script-env.ts';
import type { ScriptLog } from './script-log.ts';
import { runScript } from './scripts.ts';

/**
 * Where the release's archive comes from. `deliver` writes its bytes into `into` and ends it once
 * they are all there and verified: a secure release as it downloads, each chunk once its
 * segments' tags verify (the last bytes only after the final tag and the digest); a plain one
 * after the whole file matched its signed digest. On failure it rejects, with a refusal.
 */
export type ReleaseSource = { codec: ArchiveCodec; deliver: (into: Writable) => Promise<void> };

export type InstallOptions = {
  isolation: Isolation;
  tree: AppTree;
  source: ReleaseSource;
  /** The owner-signed variables of the environment; scripts get those latchkey.yml declares. */
  variables: Record<string, string>;
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

/** Settles to what a promise resolved to, or to its error: for waiting on every part of the unpacking. */
const settled = <T>(p: Promise<T>) => p.then((value) => ({ value }), (error: unknown) => ({ error }));

/**
 * Installs a release (DESIGN §5, §6):
 *   1. as the release user: unpack it into a new directory in incoming/ while it arrives (tar
 *      reads it on stdin, decompressed by the agent: that user cannot read the agent's state),
 *      while the agent reads latchkey.yml and the member names from the same bytes;
 *   2. once the delivery verified to its end and tar exited 0: check latchkey.yml and the
 *      variables it declares, then move the directory into releases/;
 *   3. as the release user: delete what latchkey.yml does not include;
 *   4. run preInstall, install, postInstall there, as the release user, with an environment
 *      built from scratch (script-env.ts); their output goes to the local log;
 *   5. only if all succeed, switch `current` to it (one rename) and prune old releases.
 * Nothing of the release runs before step 4. On any failure the new directory is removed (by the
 * release user, once nothing of the release runs any more) and `current` stays where it was.
 * Every failure is a refusal: deterministic, never retried. docs/release-format.md §3.4.1 says why
 * a tree unpacked before the last tag verified is harmless.
 */
export const installRelease = async (options: InstallOptions) => {
  const { isolation, tree, name, log, source } = options;
  const incoming = posix.join(tree.incoming, name);
  const dir = posix.join(tree.releases, name);
  const ops = releaseTree(isolation, options.scriptTimeoutMs, (text) => log.write(text));

  await ops.prepare(tree);
  const previous = await ops.current(tree);
  const stillCurrent = previous ? `current still points to ${previous}` : 'nothing is current';
  const output = () => (options.reportOutput ? `. Output:\n${log.tail()}` : "; the output is in the agent's local scripts log");
  let created: string | undefined;
  try {
    log.write('--- unpacking\n');
    const archive = new PassThrough({ highWaterMark: 1024 * 1024 });
    const tar = tarOf(archive, source.codec);
    const reader = archiveReader();
    // Both readers of the tar stream are attached in this tick (extract pipes into tar's stdin
    // synchronously), before `deliver` writes a byte: neither can miss the start of it.
    tar.stream.pipe(reader.parser);
    created = incoming;
    const [delivered, unpacked, parsed] = await Promise.all([
      settled(
        source.deliver(archive).catch((error: unknown) => {
          archive.destroy(error as Error); // ends the unpacking early: the refusal is this error
          throw error;
        }),
      ),
      settled(ops.extract(incoming, tar.stream)),
      settled(finished(reader.parser)),
    ]);
    if ('error' in delivered) throw delivered.error;
    if ('error' in unpacked) throw unpacked.error;
    if (tar.failed() || 'error' in parsed) {
      log.write(`${(tar.failed() ?? (parsed as { error: Error }).error).message}\n`);
      throw unreadable(tar.failed() ?? (parsed as { error: Error }).error);
    }
    if (unpacked.value.code !== 0) {
      log.write(unpacked.value.stderr);
      throw new RequestRefused('UnpackFailed', `the release archive is refused: unpacking it ${statusOf(unpacked.value)}; nothing was installed, ${stillCurrent}${output()}`);
    }
    const { entries, manifest: text } = reader.result();
    const manifest = manifestOf(text);
    const variables = declaredVariables(manifest, options.variables);
    await ops.promote(incoming, dir);
    created = dir;
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
    if (created) await ops.removeDir(created).catch(() => {});
    throw error;
  }
  // Housekeeping: a release that cannot be pruned is still installed.
  const pruned = await ops.prune(tree, options.keep).catch(() => []);
  return { current: name, output: options.reportOutput ? log.tail() : '', pruned };
};
