#!/usr/bin/env node
/**
 * The CDK app: `npx cdk synth` (offline; `npm run synth` for `--quiet`). Choose the stage with
 * `-c stage=<name>` (default `dev`). The dependencies layer is built from node_modules first
 * (again only when the installed package set changed).
 */
import { App } from 'aws-cdk-lib';
import { ensureDependenciesLayer } from '../../layers/dependencies/build.ts';
import { buildLatchkey } from '../app-factory.ts';

const app = new App();
buildLatchkey(app, { layerDirectory: ensureDependenciesLayer() });
app.synth();
