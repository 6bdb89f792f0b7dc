import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from 'aws-cdk-lib';
import type { FunctionDeclaration } from '../functions/catalog.ts';
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
   * Required, with no default: keep it in cdk.json's context (`"mailFrom"`), so every
   * `cdk deploy` uses it (a forgotten `-c mailFrom=` would otherwise deploy an unusable sender).
   * @default - the `mailFrom` context value
   */
  readonly mailFrom?: string;
  /**
   * A key server counts as online while its last heartbeat is this recent (AGENT_ONLINE_SECONDS
   * of the functions bound to the agent queues).
   * @default - the `agentOnlineSeconds` context value, else 30
   */
  readonly agentOnlineSeconds?: number;
  /**
   * How often agents are told to report in (AGENT_HEARTBEAT_SECONDS); shorter than
   * `agentOnlineSeconds`.
   * @default - the `agentHeartbeatSeconds` context value, else 10
   */
  readonly agentHeartbeatSeconds?: number;
  /**
   * How soon a key server must take (acknowledge) a request before the next one is asked
   * (AGENT_ACK_SECONDS); agents acknowledge every 2 s while they work, so at least 3.
   * @default - the `agentAckSeconds` context value, else 5
   */
  readonly agentAckSeconds?: number;
  /** Add the cdk-nag AwsSolutions plugin to the app. @default true */
  readonly nag?: boolean;
  /** Prebuilt dependencies layer directory. @default - built from node_modules if needed */
  readonly layerDirectory?: string;
  /**
   * The functions and their bindings (the local stack's tests synthesize a changed one).
   * @default - functions/catalog.ts
   */
  readonly catalog?: Record<string, FunctionDeclaration>;
}

export interface Latchkey {
  readonly stateful: StatefulStack;
  readonly stateless: StatelessStack;
}

/**
 * The prefix of a stage's per-agent queue names. Owned by that stage alone: stages are
 * lowercase, so no other stage's queue name starts with it ("Agent" is capitalised). At most
 * 36 characters, leaving room for the 36 of an agent id in SQS's 80.
 */
export const agentQueuePrefixOf = (stage: string): string => `Latchkey-${stage}-Agent-`;

/** Builds the Latchkey stacks into `app`: shared by `cdk/bin/app.ts` and the CDK tests. */
export const buildLatchkey = (app: App, options: LatchkeyOptions = {}): Latchkey => {
  const stage = options.stage ?? (app.node.tryGetContext('stage') as string | undefined) ?? 'dev';
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(stage)) throw new Error(`stage "${stage}": use 1-20 lowercase letters, digits or -`);
  const agentOnlineSeconds = seconds(app, 'agentOnlineSeconds', options.agentOnlineSeconds, 30);
  const agentHeartbeatSeconds = seconds(app, 'agentHeartbeatSeconds', options.agentHeartbeatSeconds, 10);
  const agentAckSeconds = seconds(app, 'agentAckSeconds', options.agentAckSeconds, 5);
  if (agentHeartbeatSeconds >= agentOnlineSeconds) {
    throw new Error(`agentHeartbeatSeconds (${agentHeartbeatSeconds}) must be shorter than agentOnlineSeconds (${agentOnlineSeconds})`);
  }
  if (agentAckSeconds < 3) throw new Error(`agentAckSeconds (${agentAckSeconds}) must be at least 3: agents acknowledge every 2 s while they work`);
  // Environment-agnostic stacks: no account/region lookups, so `cdk synth` runs offline.
  const stateful = new StatefulStack(app, `Latchkey-${stage}-Stateful`, {
    description: `Latchkey (${stage}): tables, releases bucket, agent reply queue`,
  });
  const stateless = new StatelessStack(app, `Latchkey-${stage}-Stateless`, {
    description: `Latchkey (${stage}): functions, HTTP API, workflow`,
    stateful,
    projectRoot,
    layerDirectory: options.layerDirectory,
    ...(options.catalog ? { catalog: options.catalog } : {}),
    mailFrom: mailSender(options.mailFrom ?? (app.node.tryGetContext('mailFrom') as unknown)),
    agentQueuePrefix: agentQueuePrefixOf(stage),
    agentOnlineSeconds,
    agentHeartbeatSeconds,
    agentAckSeconds,
  });
  stateless.addStackDependency(stateful, 'the functions bind to its tables, bucket and queue');
  if (options.nag ?? true) addNagChecks(app);
  return { stateful, stateless };
};

/** Domains that can never be a verified sender (RFC 2606): a placeholder left in place. */
const PLACEHOLDER_DOMAIN = /(^|\.)(example\.(com|net|org)|example|invalid|test)$/i;

/** The sender of approval mail, required: `Name <address>` or an address, of a domain that can be verified in SES. */
export const mailSender = (value: unknown): string => {
  const hint = 'set "mailFrom" in the context of cdk.json, e.g. "Latchkey <latchkey@mail.your-domain.com>"; its domain must be a verified SES identity (README, "Deploy to AWS")';
  if (typeof value !== 'string' || value.trim() === '') throw new Error(`No sender for approval mail: ${hint}`);
  const domain = /@([^>\s@]+)>?\s*$/.exec(value)?.[1];
  if (!domain) throw new Error(`mailFrom "${value}" has no domain: ${hint}`);
  if (PLACEHOLDER_DOMAIN.test(domain)) throw new Error(`mailFrom "${value}": ${domain} is a placeholder that SES can never verify; ${hint}`);
  return value;
};

/** A whole number of seconds from the options, else the context (`-c name=value` gives a string), else the default. */
const seconds = (app: App, name: string, option: number | undefined, fallback: number): number => {
  const raw: unknown = option ?? app.node.tryGetContext(name) ?? fallback;
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new Error(`${name} "${String(raw)}": use a whole number of seconds greater than 0`);
  }
  return value;
};
