/**
 * The CDK app synthesized for the local stack: the same stacks `cdk synth` makes, from which
 * the local stack takes each function's environment and IAM policies (DESIGN §7). Bundling,
 * cdk-nag and CloudFormation validation are left out: they do not change a template's
 * environment or policies, and they are the slow part of a synth.
 *
 * The cloud assembly is kept under node_modules/.cache, named by a hash of everything that
 * goes into it, so only a start after a change to the app pays for the synth (~3 s).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FunctionDeclaration } from '#functions/catalog.ts';
import { stateMachines } from '#functions/resources.ts';
import { REPO_ROOT } from '../lambda-runtime.ts';

export type LocalSynthOptions = {
  /** Stage of the stack names. */
  stage: string;
  /** Sender of approval mail; its domain is the SES identity the mail grant names. */
  mailFrom: string;
  agentOnlineSeconds: number;
  agentHeartbeatSeconds: number;
  /** @default 5 */
  agentAckSeconds?: number;
  /** The function catalog to synthesize instead of functions/catalog.ts (tests that change a binding). */
  catalog?: Record<string, FunctionDeclaration>;
};

const CACHE_DIR = path.join(REPO_ROOT, 'node_modules', '.cache', 'latchkey-local-assembly');

const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(full) : [full];
  });

/** Every input of the synth: the CDK app, the declarations it reads, its context and the installed aws-cdk-lib. */
const inputsHash = (options: LocalSynthOptions): string => {
  const files = [
    ...filesUnder(path.join(REPO_ROOT, 'cdk')),
    ...['functions/catalog.ts', 'functions/resources.ts', 'functions/api/routes.ts', 'cdk.json', 'package-lock.json', 'local/iam/local-synth.ts'].map((f) =>
      path.join(REPO_ROOT, f),
    ),
    ...Object.values(stateMachines).map((machine) => path.join(REPO_ROOT, machine.definitionFile)),
  ].sort();
  const hash = createHash('sha256').update(JSON.stringify(options));
  for (const file of files) hash.update(file).update(readFileSync(file));
  return hash.digest('hex').slice(0, 20);
};

/** Synthesizes into `outdir` (in this process: aws-cdk-lib is loaded only here). */
export const synthesizeInto = async (outdir: string, options: LocalSynthOptions): Promise<void> => {
  const { App } = await import('aws-cdk-lib');
  const { buildLatchkey, projectContext } = await import('#cdk/app-factory.ts');
  // The local stack runs no bundle: a layer directory with an empty manifest stands in for
  // the built layer, whose content no environment or policy depends on.
  const layerDirectory = path.join(outdir, '..', `${path.basename(outdir)}-layer`);
  mkdirSync(layerDirectory, { recursive: true });
  writeFileSync(path.join(layerDirectory, 'latchkey-layer.json'), JSON.stringify({ modules: {} }));
  const app = new App({
    context: { ...projectContext(), 'aws:cdk:bundling-stacks': [] },
    outdir,
    builtinCloudFormationValidation: false,
  });
  buildLatchkey(app, {
    stage: options.stage,
    mailFrom: options.mailFrom,
    agentOnlineSeconds: options.agentOnlineSeconds,
    agentHeartbeatSeconds: options.agentHeartbeatSeconds,
    agentAckSeconds: options.agentAckSeconds ?? 5,
    nag: false,
    layerDirectory,
    ...(options.catalog ? { catalog: options.catalog } : {}),
  });
  app.synth();
  rmSync(layerDirectory, { recursive: true, force: true });
};

/** The cloud assembly directory of the app for these options, synthesized if not cached. */
export const localAssembly = async (options: LocalSynthOptions): Promise<string> => {
  const dir = path.join(CACHE_DIR, inputsHash(options));
  if (existsSync(path.join(dir, 'manifest.json'))) return dir;
  // Built beside the target and renamed, so a concurrent start never reads half an assembly.
  const staging = `${dir}.staging-${process.pid}-${Date.now()}`;
  mkdirSync(CACHE_DIR, { recursive: true });
  await synthesizeInto(staging, options);
  try {
    renameSync(staging, dir);
  } catch (error) {
    // Another start made the same assembly first.
    if (!existsSync(path.join(dir, 'manifest.json'))) throw error;
    rmSync(staging, { recursive: true, force: true });
  }
  return dir;
};
