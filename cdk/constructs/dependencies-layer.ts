import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { ensureDependenciesLayer } from '../../layers/dependencies/build.ts';
import { layerPackages } from '../../layers/dependencies/packages.ts';

/** Properties of {@link DependenciesLayer}. */
export interface DependenciesLayerProps {
  /**
   * The built layer directory (holding `nodejs/node_modules`).
   * @default - `layers/dependencies/build`, built from `node_modules` first if missing or stale
   */
  readonly directory?: string;
}

/**
 * The one dependencies layer (Powertools, middy, zod and what they need), attached to every
 * function; `LatchkeyFunction` leaves these packages out of each bundle.
 */
export class DependenciesLayer extends lambda.LayerVersion {
  constructor(scope: Construct, id: string, props: DependenciesLayerProps = {}) {
    super(scope, id, {
      code: lambda.Code.fromAsset(props.directory ?? ensureDependenciesLayer()),
      compatibleRuntimes: [lambda.Runtime.NODEJS_24_X],
      compatibleArchitectures: [lambda.Architecture.ARM_64],
      description: `Latchkey dependencies: ${layerPackages.join(', ')}`,
    });
  }
}
