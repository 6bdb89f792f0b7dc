import { shownName, variableNameProblem } from '#shared/protocol/script-variables.ts';
import { RequestRefused } from '../handlers/types.ts';
import type { ReleaseUser } from '../isolation/release-user.ts';
import { COMMAND_PATH } from '../isolation/release-user.ts';
import type { LatchkeyYml } from './latchkey-yml.ts';

/**
 * A release's scripts get an environment built from scratch (DESIGN §6): the LATCHKEY_* facts,
 * a fixed PATH, HOME and LANG, and only the variables the release's signed latchkey.yml declares,
 * with the environment's values over its defaults. The environment's variables come from the
 * backend; a name that changes how programs load code, or one the release does not declare, is
 * a refusal naming it, never something to pass on or quietly drop.
 */

/** Before anything is downloaded: every name the environment sets must be one a script variable may have. */
export const refuseReservedVariables = (variables: Record<string, string>) => {
  for (const name of Object.keys(variables)) {
    const problem = variableNameProblem(name);
    if (problem) throw new RequestRefused('VariableRefused', `the environment sets ${shownName(name)}, which ${problem}; nothing was installed`);
  }
};

/** Once latchkey.yml is read: the environment may only give values to the variables it declares. */
export const declaredVariables = (manifest: LatchkeyYml, variables: Record<string, string>) => {
  const declared = Object.keys(manifest.env);
  for (const name of Object.keys(variables)) {
    if (!declared.includes(name)) {
      const declares = declared.length ? `it declares ${declared.join(', ')}` : 'it declares none';
      throw new RequestRefused('VariableRefused', `the environment sets ${shownName(name)}, which the release's latchkey.yml does not declare (${declares}); nothing was installed`);
    }
  }
  return { ...manifest.env, ...variables };
};

export type ScriptFacts = { appName: string; releaseVersion: string; environmentName: string; deploymentId: string; releaseDir: string };

export const scriptEnvironment = (variables: Record<string, string>, facts: ScriptFacts, user: ReleaseUser): Record<string, string> => ({
  ...variables,
  PATH: COMMAND_PATH,
  HOME: user.home,
  LANG: 'C.UTF-8',
  LATCHKEY_APP: facts.appName,
  LATCHKEY_RELEASE_VERSION: facts.releaseVersion,
  LATCHKEY_ENVIRONMENT: facts.environmentName,
  LATCHKEY_DEPLOYMENT_ID: facts.deploymentId,
  LATCHKEY_RELEASE_DIR: facts.releaseDir,
});
