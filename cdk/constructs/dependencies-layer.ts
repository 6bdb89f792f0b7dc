import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { ensureDependenciesLayer, manifestFileName, type LayerManifest } from '../../layers/dependencies/build.ts';

/** Properties of {@link DependenciesLayer}. */
export interface DependenciesLayerProps {
  /**
   * The built layer directory (holding `nodejs/node_modules`).
   * @default - `layers/dependencies/build`, built from `node_modules` first if missing or stale
   */
  readonly directory?: string;
}

/**
 * What the built layer carries, from its manifest: the packages the functions import from it,
 * which are not all the project's Powertools dependencies, plus the AWS SDK clients. Lambda
 * caps a description at 256 characters, hence the short names.
 */
export const layerDescription = (directory: string): string => {
  const { modules } = JSON.parse(readFileSync(join(directory, manifestFileName), 'utf8')) as LayerManifest;
  const packages = [...new Set(Object.keys(modules).map((m) => m.split('/').slice(0, m.startsWith('@') ? 2 : 1).join('/')))].sort();
  const named = (scope: string) => packages.filter((p) => p.startsWith(scope)).map((p) => p.slice(scope.length));
  const others = packages.filter((p) => !p.startsWith('@aws-lambda-powertools/') && !p.startsWith('@aws-sdk/'));
  const description = [
    `Latchkey dependencies, prebundled: Powertools ${named('@aws-lambda-powertools/').join(', ')}`,
    ...others,
    `AWS SDK ${named('@aws-sdk/').join(', ')}`,
  ].join('; ');
  return description.length <= 256 ? description : `${description.slice(0, 255)}…`;
};

/**
 * The one dependencies layer, prebundled (layers/dependencies/build.ts): Powertools, middy, zod
 * and the AWS SDK clients the functions import, attached to every function; `LatchkeyFunction`
 * leaves these packages out of each bundle.
 */
export class DependenciesLayer extends lambda.LayerVersion {
  constructor(scope: Construct, id: string, props: DependenciesLayerProps = {}) {
    const directory = props.directory ?? ensureDependenciesLayer();
    super(scope, id, {
      code: lambda.Code.fromAsset(directory),
      compatibleRuntimes: [lambda.Runtime.NODEJS_24_X],
      compatibleArchitectures: [lambda.Architecture.ARM_64],
      description: layerDescription(directory),
    });
  }
}
