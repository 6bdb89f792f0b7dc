import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectContext, projectRoot } from '../../cdk/app-factory.ts';
import { DependenciesLayer } from '../../cdk/constructs/dependencies-layer.ts';
import { LatchkeyFunction } from '../../cdk/constructs/latchkey-function.ts';
import { addNagChecks, nagFindings } from '../../cdk/nag.ts';
import { StatefulStack } from '../../cdk/stateful-stack.ts';
import { functions, type FunctionDeclaration, type FunctionName } from '../../functions/catalog.ts';
import { synthLatchkey, type Synthesized } from './synth.ts';

let synthesized: Synthesized;
beforeAll(() => {
  synthesized = synthLatchkey();
});
afterAll(() => synthesized?.dispose());

/** Every acknowledgement recorded in a construct tree: where, which finding, why. */
const acknowledgements = (root: IConstruct): { path: string; id: string; reason: unknown }[] =>
  root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, unknown>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );

/** How cdk-nag names the agent-queue grant of the test stage: the prefix ARN, flattened. */
const agentQueuesFinding = 'arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:Latchkey-test-Agent-*';

/** A throw-away app for the cases the Latchkey app does not (yet) contain. */
const scratchApp = () => {
  const outdir = mkdtempSync(join(tmpdir(), 'latchkey-nag-'));
  const app = new App({ context: { ...projectContext(), 'aws:cdk:bundling-stacks': [] }, outdir, builtinCloudFormationValidation: false });
  return { app, outdir, dispose: () => rmSync(outdir, { recursive: true, force: true }) };
};

describe('cdk-nag AwsSolutions', () => {
  it.each(['stateful', 'stateless'] as const)('%s stack: zero unacknowledged findings', (which) => {
    // validateScope walks the synthesized tree, as the plugin does during `cdk synth`
    const findings = nagFindings(synthesized[which]);
    expect(findings.map((f) => `${f.ruleName} (${f.severity}): ${f.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });

  it('every acknowledgement names an exact AwsSolutions finding and gives a reason', () => {
    const all = acknowledgements(synthesized.app);
    expect(all.length).toBeGreaterThan(0);
    for (const { path, id, reason } of all) {
      expect(id, path).toMatch(/^AwsSolutions-[A-Z]+[0-9]+(\[.+\])?$/);
      expect(typeof reason === 'string' && reason.length >= 30, `${path} ${id}: reason "${String(reason)}"`).toBe(true);
    }
  });

  it('acknowledges only the reviewed findings', () => {
    // bindBucket's object-level grants are acknowledged per bucket (tested below)
    const bucketObjects = /^AwsSolutions-IAM5\[Resource::.*\/\*\]$/;
    const ids = new Set(acknowledgements(synthesized.app).map((a) => a.id).filter((id) => !bucketObjects.test(id)));
    expect([...ids].sort()).toEqual(
      [
        'AwsSolutions-APIG4',
        'AwsSolutions-IAM5[Resource::*]',
        'AwsSolutions-S1',
        // the per-agent queues, created at enrolment as <prefix><agent id> (tested below)
        `AwsSolutions-IAM5[Resource::${agentQueuesFinding}]`,
      ].sort(),
    );
  });

  it('acknowledges the agent-queue prefix wildcard exactly where it is granted: agentQueues functions and the AgentRole', () => {
    const { stateless } = synthesized;
    const id = `AwsSolutions-IAM5[Resource::${agentQueuesFinding}]`;
    const where = acknowledgements(synthesized.app)
      .filter((a) => a.id === id)
      .map((a) => a.path)
      .sort();
    const bound = (Object.entries(functions) as [FunctionName, FunctionDeclaration][])
      .filter(([, declaration]) => declaration.bind.agentQueues !== undefined)
      .map(([name]) => stateless.functions[name].executionRole.node.path);
    expect(bound.length).toBeGreaterThan(0);
    expect(where).toEqual([...bound, stateless.agentRole!.node.path].sort());
  });

  it('runs as a validation plugin of the app: an unacknowledged finding fails synthesis', () => {
    // Prepare
    const { app, outdir, dispose } = scratchApp();
    const stack = new Stack(app, 'Scratch');
    new sqs.Queue(stack, 'Unencrypted', { encryption: sqs.QueueEncryption.UNENCRYPTED, enforceSSL: false });
    addNagChecks(app);
    try {
      // Act + Assess
      expect(() => app.synth()).toThrow(/AwsSolutions-SQS2[\s\S]*AwsSolutions-SQS4/);
      const report = readFileSync(join(outdir, 'validation-report.json'), 'utf8');
      expect(report).toContain('AwsSolutions-SQS2');
    } finally {
      dispose();
    }
  });

  it('bindBucket across stacks: object-level grant, its IAM5 finding acknowledged with the exact id', () => {
    // Prepare: bind one here in isolation, across stacks as in the app
    const { app, dispose } = scratchApp();
    const stateful = new StatefulStack(app, 'ScratchStateful');
    const stateless = new Stack(app, 'ScratchStateless');
    const fn = new LatchkeyFunction(stateless, 'Presign', {
      entry: join(projectRoot, 'functions/api/health.ts'),
      projectRoot,
      dependenciesLayer: new DependenciesLayer(stateless, 'Layer'),
    });
    fn.bindBucket({ bucket: stateful.releases.buckets.releases, access: 'readwrite' });
    addNagChecks(app);
    try {
      // Act: synthesis runs the plugin and throws on any unacknowledged finding
      const template = Template.fromStack(stateless);

      // Assess
      template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Effect: 'Allow',
              Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
              Resource: { 'Fn::Join': ['', [{ 'Fn::GetStackOutput': Match.objectLike({ StackName: 'ScratchStateful' }) }, '/*']] },
            },
          ]),
        },
      });
      expect(nagFindings(stateless)).toEqual([]);
      const objectAck = acknowledgements(stateless).find((a) => a.id.includes('Fn::GetStackOutput'));
      expect(objectAck?.id).toMatch(/^AwsSolutions-IAM5\[Resource::\{"Fn::GetStackOutput":.*\}\/\*\]$/);
    } finally {
      dispose();
    }
  });
});
