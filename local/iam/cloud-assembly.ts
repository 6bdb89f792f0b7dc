import { readFileSync } from 'node:fs';
import path from 'node:path';

export type CfnResource = { Type: string; Properties?: Record<string, unknown> };
export type CfnTemplate = {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown } }>;
};

/** One stack of a cloud assembly: its template, and the logical id of each construct path. */
export type AssembledStack = { name: string; template: CfnTemplate; logicalIdOf: (constructPath: string) => string | undefined };

type Manifest = { artifacts: Record<string, { type: string; properties?: { templateFile?: string } }> };
type Metadata = Record<string, { type: string; data: unknown }[]>;

/**
 * Reads a cloud assembly as `cdk synth` writes it (cdk.out): the stacks' templates, and from
 * each stack's metadata the logical id CDK gave each construct, so resources are found by what
 * they are (`/Stack/Data/DirectoryTable/Resource`), not by the hash in their logical ids.
 */
export const readCloudAssembly = (dir: string): AssembledStack[] => {
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
  return Object.entries(manifest.artifacts)
    .filter(([, artifact]) => artifact.type === 'aws:cloudformation:stack')
    .map(([name, artifact]) => {
      const template = JSON.parse(readFileSync(path.join(dir, artifact.properties!.templateFile!), 'utf8')) as CfnTemplate;
      const metadata = JSON.parse(readFileSync(path.join(dir, `${name}.metadata.json`), 'utf8')) as Metadata;
      const ids = new Map<string, string>();
      for (const [constructPath, entries] of Object.entries(metadata)) {
        const logicalId = entries.find((entry) => entry.type === 'aws:cdk:logicalId')?.data;
        if (typeof logicalId === 'string') ids.set(constructPath, logicalId);
      }
      return { name, template, logicalIdOf: (constructPath: string) => ids.get(constructPath) };
    });
};
