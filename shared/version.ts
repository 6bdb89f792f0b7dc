import { readFileSync } from 'node:fs';

/** Set by the package build (packaging/bundle.ts, esbuild `define`); absent when run from the sources. */
declare const LATCHKEY_VERSION: string | undefined;

/**
 * The release version of the CLI and the agent. A bundle carries it as a constant: it sits
 * wherever it was installed, with no package.json of ours beside it to read. From a clone it is
 * the repository's package.json, as before.
 */
export const version: string =
  typeof LATCHKEY_VERSION === 'string'
    ? LATCHKEY_VERSION
    : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
