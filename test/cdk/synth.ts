/**
 * Builds the Latchkey app as `cdk synth` does (cdk.json context, cdk-nag plugin on) into a
 * temporary directory. Bundling and CDK's built-in CloudFormation template validation (a WASM
 * linter, ~4 s a synth; errors fail synthesis under `validateAgainstDefaultRules`) are the slow
 * parts: both run only when `bundling` is asked for — bundling.test.ts does it once, as
 * `cdk synth` does every time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildLatchkey, projectContext, type Latchkey } from '../../cdk/app-factory.ts';

/** The sender the CDK tests synthesize with (a deployment keeps its own in cdk.json). */
export const TEST_MAIL_FROM = 'Latchkey <latchkey@mail.latchkey.dev>';

export type Synthesized = Latchkey & {
  app: App;
  outdir: string;
  stateful: Latchkey['stateful'];
  statefulTemplate: Template;
  statelessTemplate: Template;
  dispose: () => void;
};

export const synthLatchkey = ({ bundling = false }: { bundling?: boolean } = {}): Synthesized => {
  const outdir = mkdtempSync(join(tmpdir(), 'latchkey-cdk-'));
  const context: Record<string, unknown> = { ...projectContext() };
  if (!bundling) context['aws:cdk:bundling-stacks'] = [];
  const app = new App({ context, outdir, builtinCloudFormationValidation: bundling });
  const latchkey = buildLatchkey(app, { stage: 'test', mailFrom: TEST_MAIL_FROM });
  // Synthesizes the whole app once; the plugin validation (cdk-nag) throws on any finding.
  app.synth();
  return {
    ...latchkey,
    app,
    outdir,
    statefulTemplate: Template.fromStack(latchkey.stateful),
    statelessTemplate: Template.fromStack(latchkey.stateless),
    dispose: () => rmSync(outdir, { recursive: true, force: true }),
  };
};

/** The logical id of a construct's CloudFormation resource. */
export const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }): string =>
  stack.getLogicalId(construct.node.defaultChild as never);

export type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

/** Every IAM statement of a template: policies and inline role policies. */
export const policyStatements = (template: Template): { resource: string; statement: Statement }[] => {
  const found: { resource: string; statement: Statement }[] = [];
  for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
    for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) found.push({ resource: id, statement });
  }
  for (const [id, role] of Object.entries(template.findResources('AWS::IAM::Role'))) {
    for (const inline of (role.Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]) {
      for (const statement of inline.PolicyDocument.Statement) found.push({ resource: id, statement });
    }
  }
  return found;
};

export const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** Asserts that one resource, found by logical id, has (at least) these attributes. */
export const resourceMatches = (template: Template, id: string, expected: Record<string, unknown>): void => {
  template.templateMatches({ Resources: { [id]: expected } });
};
