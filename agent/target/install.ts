import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { extract } from 'tar';
import { MAX_REPORT_OUTPUT } from '#shared/protocol/deploy-messages.ts';
import { RequestRefused } from '../handlers/types.ts';
import { currentRelease, exists, keepIncluded, pruneReleases, switchCurrent, type AppLayout } from './layout.ts';
import { MANIFEST_FILE, ManifestError, parseLatchkeyYml, scriptVariables, type LatchkeyYml } from './latchkey-yml.ts';
import { baseScriptEnv, OutputTail, runScript } from './scripts.ts';

export type InstallOptions = {
  layout: AppLayout;
  /** The plaintext archive (tar.gz), removed here whatever happens. */
  archive: string;
  name: string;
  variables: Record<string, string>;
  info: { appName: string; releaseVersion: string; environmentName: string; deploymentId: string };
  keep: number;
  scriptTimeoutMs: number;
};

const readManifest = async (dir: string): Promise<LatchkeyYml> => {
  const path = join(dir, MANIFEST_FILE);
  if (!(await exists(path))) return { env: {} };
  try {
    return parseLatchkeyYml(await readFile(path, 'utf8'));
  } catch (error) {
    if (error instanceof ManifestError) throw new RequestRefused('ManifestInvalid', error.message);
    throw error;
  }
};

/**
 * Installs a verified release archive (DESIGN §5):
 *   1. unpack it into a new release directory (private), and delete the archive;
 *   2. read latchkey.yml; keep only the files it includes;
 *   3. run preInstall, install, postInstall there, with the environment's variables over the
 *      manifest's defaults;
 *   4. only if all succeed, switch `current` to it (one rename) and prune old releases.
 * On any failure the new directory is removed and `current` stays where it was.
 */
export const installRelease = async (options: InstallOptions) => {
  const { layout, name } = options;
  const dir = join(layout.releases, name);
  const output = new OutputTail(MAX_REPORT_OUTPUT);
  const previous = await currentRelease(layout);
  const stillCurrent = previous ? `current still points to ${previous}` : 'nothing is current';
  try {
    try {
      await mkdir(dir, { mode: 0o700 });
      await extract({ file: options.archive, cwd: dir, strict: true, preservePaths: false });
    } catch (error) {
      if (error instanceof RequestRefused) throw error;
      throw new RequestRefused('UnpackFailed', `the release archive could not be unpacked (${(error as Error).message}); ${stillCurrent}`);
    } finally {
      await rm(options.archive, { force: true });
    }
    await chmod(dir, 0o700);
    const manifest = await readManifest(dir);
    if (manifest.include) await keepIncluded(dir, manifest.include);
    const env = baseScriptEnv({
      ...scriptVariables(manifest, options.variables),
      LATCHKEY_APP: options.info.appName,
      LATCHKEY_RELEASE_VERSION: options.info.releaseVersion,
      LATCHKEY_ENVIRONMENT: options.info.environmentName,
      LATCHKEY_DEPLOYMENT_ID: options.info.deploymentId,
      LATCHKEY_RELEASE_DIR: dir,
    });
    for (const step of ['preInstall', 'install', 'postInstall'] as const) {
      const script = manifest[step];
      if (!script) continue;
      const result = await runScript(step, script, { cwd: dir, env, output, timeoutMs: options.scriptTimeoutMs });
      if (!result.ok) throw new RequestRefused('ScriptFailed', `${result.why}; ${stillCurrent}. Output:\n${output.toString()}`);
    }
    await switchCurrent(layout, name);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const pruned = await pruneReleases(layout, options.keep);
  return { current: name, output: output.toString(), pruned };
};
