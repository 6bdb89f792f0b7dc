import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from 'aws-cdk-lib';
import { addNagChecks } from './nag.ts';
import { StatefulStack } from './stateful-stack.ts';
import { StatelessStack } from './stateless-stack.ts';

/** Repository root: handler entries, ASL files and the lock file are resolved against it. */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The context of `cdk.json` (feature flags and settings). The CLI hands it to the app itself;
 * tests build an `App` directly and pass it in, so they synthesize what `cdk synth` does.
 */
export const projectContext = (): Record<string, unknown> =>
  (JSON.parse(readFileSync(join(projectRoot, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

/** Options of {@link buildLatchkey}. */
export interface LatchkeyOptions {
  /**
   * Stage name, part of both stack names so several stages can share an account.
   * @default - the `stage` context value, else `dev`
   */
  readonly stage?: string;
  /**
   * Sender of approval emails; its domain must be a verified SES identity in the account.
   * @default - the `mailFrom` context value, else `latchkey@example.com`
   */
  readonly mailFrom?: string;
  /** Add the cdk-nag AwsSolutions plugin to the app. @default true */
  readonly nag?: boolean;
  /** Prebuilt dependencies layer directory. @default - built from node_modules if needed */
  readonly layerDirectory?: string;
}

export interface Latchkey {
  readonly stateful: StatefulStack;
  readonly stateless: StatelessStack;
}

/** Builds the Latchkey stacks into `app`: shared by `cdk/bin/app.ts` and the CDK tests. */
export const buildLatchkey = (app: App, options: LatchkeyOptions = {}): Latchkey => {
  const stage = options.stage ?? (app.node.tryGetContext('stage') as string | undefined) ?? 'dev';
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(stage)) throw new Error(`stage "${stage}": use 1-20 lowercase letters, digits or -`);
  // Environment-agnostic stacks: no account/region lookups, so `cdk synth` runs offline.
  const stateful = new StatefulStack(app, `Latchkey-${stage}-Stateful`, {
    description: `Latchkey (${stage}): tables, releases bucket, agent reply queue`,
  });
  const stateless = new StatelessStack(app, `Latchkey-${stage}-Stateless`, {
    description: `Latchkey (${stage}): functions, HTTP API, workflow`,
    stateful,
    projectRoot,
    layerDirectory: options.layerDirectory,
    mailFrom: options.mailFrom ?? (app.node.tryGetContext('mailFrom') as string | undefined) ?? 'latchkey@example.com',
  });
  stateless.addStackDependency(stateful, 'the functions bind to its tables, bucket and queue');
  if (options.nag ?? true) addNagChecks(app);
  return { stateful, stateless };
};
