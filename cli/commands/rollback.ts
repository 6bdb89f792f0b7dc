import type { Command } from 'commander';
import { examples } from '../command-kit.ts';
import type { Context } from '../context.ts';
import type { DeploymentView } from '../deployment-view.ts';
import { RefusedError } from '../errors.ts';
import { idOf, kinds } from '../resolve.ts';
import { signDeploymentIntent } from '../signed-decisions.ts';

type Past = Pick<DeploymentView, 'deploymentId' | 'appId' | 'appName' | 'releaseId' | 'releaseVersion' | 'state'>;

/**
 * What a rollback deploys: the environment's live release is the one its newest successful
 * deployment installed (of `appId`, when given); the release to go back to is the newest
 * successful one before it that is a different release. `deployments` are newest first.
 */
export const rollbackTarget = (deployments: readonly Past[], environment: string, appId?: string) => {
  const succeeded = deployments.filter((d) => d.state === 'Succeeded' && (appId === undefined || d.appId === appId));
  const live = succeeded[0];
  if (!live) throw new RefusedError(`Nothing was deployed successfully to ${environment}${appId ? ' for this application' : ''}: there is nothing to roll back`);
  const previous = succeeded.find((d) => d.appId === live.appId && d.releaseId !== live.releaseId);
  if (!previous) {
    throw new RefusedError(`${live.appName} ${live.releaseVersion} is the only release ever deployed successfully to ${environment}: there is no earlier one to go back to`);
  }
  return { live, previous };
};

export const registerRollback = (program: Command, ctx: Context) => {
  examples(
    program
      .command('rollback')
      .description(
        'Deploy the previous successful release of an environment again: a new deployment of that release, ' +
          'through the environment’s approval policy like any other.',
      )
      .argument('<env>', 'environment name or id')
      .option('--app <app>', 'the application to roll back, when the environment runs several (default: the one deployed last)')
      .action(async (envRef: string, options: { app?: string }, command: Command) => {
        // 1. The environment's successful deployments, newest first; 2. live and previous release;
        // 3. a new deployment of the previous release (approvals apply as for any deployment).
        const out = ctx.output(command);
        const client = await ctx.client();
        const environmentId = await idOf(client, kinds.environment, envRef);
        const appId = options.app === undefined ? undefined : await idOf(client, kinds.app, options.app);
        const { items } = await client.list('GET /deployments', { query: { environmentId } });
        const { live, previous } = rollbackTarget(items, envRef, appId);
        const ids = { appId: previous.appId, releaseId: previous.releaseId, environmentId };
        const intent = await signDeploymentIntent(ctx, client, await client.call('GET /me'), out, ids);
        const d = await client.call('POST /deployments', { body: { ...ids, intent } });
        out.result(d, () => `Rolling back ${d.appName} in ${d.environmentName} from ${live.releaseVersion} to ${d.releaseVersion}: deployment ${d.deploymentId}, ${d.state}.`);
      }),
    ['latchkey rollback production', 'latchkey rollback staging --app web-api --json | jq -r .deploymentId'],
  );
};
