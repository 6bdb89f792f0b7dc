import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { scriptVariables } from '#shared/protocol/script-variables.ts';

/**
 * `latchkey.yml`, at the root of a release (the seeds' manifest, in Latchkey's spelling):
 *
 *   env:                       # the only variables the scripts see, with defaults; the environment
 *     SECRET_FILE: unset       # (set by the owner) may give them values, and no other variable
 *     DESTINATION_FILE: /opt/app/secret.cred
 *   include:                   # files kept in the release directory (globs); default: all
 *     - secret.cred.*
 *   preInstall: |              # each script: a string, or a list of lines (the seeds' form)
 *     …
 *   install: …
 *   postInstall:
 *     - mv -f "$SECRET_FILE" "$DESTINATION_FILE"
 *
 * The seeds' capitalised keys (Env, PkgInclude, PreInstall, Install, PostInstall) are accepted
 * too, and `env` may be the seeds' list of one-entry maps.
 */
export const MANIFEST_FILE = 'latchkey.yml';

const ALIASES: Record<string, string> = { Env: 'env', PkgInclude: 'include', PreInstall: 'preInstall', Install: 'install', PostInstall: 'postInstall' };

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String);
/** Only names a script variable may have: a release cannot declare PATH, NODE_OPTIONS, LD_PRELOAD, … */
const envMap = scriptVariables(scalar);

/** A glob relative to the release root: no absolute paths, no `..`. */
export const includePattern = z
  .string()
  .min(1)
  .max(256)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a relative path without ..');

const script = z
  .union([z.string(), z.array(scalar)])
  .transform((value) => (Array.isArray(value) ? value.join('\n') : value))
  .pipe(z.string().max(64 * 1024));

export const latchkeyYml = z.strictObject({
  env: z
    .union([envMap, z.array(envMap.refine((entry) => Object.keys(entry).length === 1, 'each list entry sets one variable'))])
    .transform((env) => (Array.isArray(env) ? Object.assign({}, ...env) : env) as Record<string, string>)
    .default({}),
  include: z.array(includePattern).max(200).optional(),
  preInstall: script.optional(),
  install: script.optional(),
  postInstall: script.optional(),
});
export type LatchkeyYml = z.infer<typeof latchkeyYml>;

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

const renameAliases = (value: unknown) => {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [ALIASES[key] ?? key, v]));
};

/** Parses and checks the manifest text; every failure is a ManifestError naming the field. */
export const parseLatchkeyYml = (text: string): LatchkeyYml => {
  let document: unknown;
  try {
    // No custom tags, few aliases: a release cannot make the parser do unbounded work.
    document = parseYaml(text, { maxAliasCount: 20, prettyErrors: false, logLevel: 'error' }) ?? {};
  } catch (error) {
    throw new ManifestError(`${MANIFEST_FILE} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const parsed = latchkeyYml.safeParse(renameAliases(document));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ManifestError(`${MANIFEST_FILE}: ${issue.path.join('.') || '(top level)'} ${issue.message}`);
  }
  return parsed.data;
};
