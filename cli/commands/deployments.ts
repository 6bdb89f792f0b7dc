import type { Command } from 'commander';
import type { ApiClient } from '../api-client.ts';
import { examples, limitFrom, listOptions, moreNote, type ListOptions } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { deploymentColumns, formatDeployment, nextStep, type DeploymentView } from '../deployment-view.ts';
import { Interrupted, RefusedError, UsageError } from '../errors.ts';
import type { Output } from '../output.ts';
import { idOf, kinds, looksLikeId, peopleById, type Person } from '../resolve.ts';
import { realSleep, watchDeployment } from '../watch.ts';
import { releaseIdOf } from './releases.ts';
import { registerRollback } from './rollback.ts';
import { masterKeyNotes } from '../master-key-notes.ts';
import { signDecision, signDeploymentIntent } from '../signed-decisions.ts';
import { askReceiptReads, receiptWarnings, verifyDeploymentReceipts } from '../receipt-check.ts';

/** `status` without an id shows the most recent deployments. */
export const DEPLOYMENTS_DEFAULT_LIMIT = 20;

const ID = 'dep_0123456789abcdef0123456789abcdef';

const deploymentArgument = (command: Command) => command.argument('<deployment>', 'deployment id (dep_…), as printed by `latchkey deploy` and `latchkey status`');

const watchOption = (command: Command, what: string) =>
  command.option('--watch', `then follow it ${what} until it ends (exit 0 if it succeeds, 1 if not)`);

/** People are decoration for humans: JSON output keeps ids and saves the call. */
const peopleFor = async (client: ApiClient, out: Output): Promise<Map<string, Person>> => (out.json ? new Map() : peopleById(client));

/**
 * Follows a deployment to its end (see watch.ts) and turns the ending into the exit code:
 * Succeeded is 0; any other end is 1, with the reason on stderr; Ctrl-C is 130.
 */
const follow = async (ctx: Context, client: ApiClient, out: Output, first: DeploymentView, people: ReadonlyMap<string, Person>) => {
  const { io } = ctx;
  const result = await watchDeployment(() => client.call('GET /deployments/{id}', { params: { id: first.deploymentId } }), {
    stdout: io.stdout,
    stderr: io.stderr,
    json: out.json,
    isTTY: Boolean(io.isTTY),
    columns: io.columns,
    sleep: io.sleep ?? realSleep,
    onInterrupt: io.onInterrupt ?? (() => () => {}),
    now: () => new Date(),
  }, { first, people, render: (d) => formatDeployment(d, people) });
  const d = result.deployment;
  if (result.interrupted) {
    throw new Interrupted(`Stopped watching ${d.deploymentId}; it is ${d.state} and goes on without you. Look again: latchkey status ${d.deploymentId} --watch`);
  }
  if (d.state !== 'Succeeded') {
    throw new RefusedError(`Deployment ${d.deploymentId} did not succeed: ${nextStep(d, people)}`);
  }
};

/** What an action answers: the deployment (JSON), or one line and the next step. */
const report = (out: Output, d: DeploymentView, headline: string, people: ReadonlyMap<string, Person>, justCreated = false) =>
  out.result(d, () => `${headline}\n${nextStep(d, people, { justCreated })}`);

export const registerDeployments = (program: Command, ctx: Context) => {
  examples(
    watchOption(
      program
        .command('deploy')
        .description(
          'Start a deployment of a release to an environment. Where the environment needs approval it waits for ' +
            'the approvers (they are emailed); otherwise it starts at once. With only a deployment id, start a ' +
            'deployment that has been approved.',
        )
        .argument('<app>', 'application name or id — or the id of an approved deployment to start')
        .argument('[release]', 'release version (e.g. 1.4.2) or id')
        .argument('[env]', 'environment name or id'),
      'in this terminal',
    ).action(async (first: string, releaseRef: string | undefined, envRef: string | undefined, options: { watch?: boolean }, command: Command) => {
      const out = ctx.output(command);
      if (releaseRef === undefined && looksLikeId('dep', first)) {
        const client = await ctx.client();
        const d = await client.call('POST /deployments/{id}/deploy', { params: { id: first } });
        const people = await peopleFor(client, out);
        report(out, d, `Deploying ${d.appName} ${d.releaseVersion} to ${d.environmentName} (${d.deploymentId}): ${d.state}.`, people);
        if (options.watch) await follow(ctx, client, out, d, people);
        return;
      }
      if (releaseRef === undefined || envRef === undefined) {
        throw new UsageError('deploy takes APP RELEASE ENV (or the id of an approved deployment)', {
          hint: `e.g. latchkey deploy web-api 1.4.2 production   or   latchkey deploy ${ID}`,
        });
      }
      const client = await ctx.client();
      const appId = await idOf(client, kinds.app, first);
      const releaseId = await releaseIdOf(client, appId, first, releaseRef);
      const environmentId = await idOf(client, kinds.environment, envRef);
      // Signed here: key servers and targets act only on the deployer's own intent (docs/trust.md).
      const intent = await signDeploymentIntent(ctx, client, await client.call('GET /me'), out, { appId, releaseId, environmentId });
      const d = await client.call('POST /deployments', { body: { appId, releaseId, environmentId, intent } });
      const people = await peopleFor(client, out);
      report(out, d, `Deployment ${d.deploymentId}: ${d.appName} ${d.releaseVersion} to ${d.environmentName}, ${d.state}.`, people, true);
      if (options.watch) await follow(ctx, client, out, d, people);
    }),
    [
      'latchkey deploy web-api 1.4.2 production',
      'latchkey deploy web-api 1.4.2 staging --watch   # no approval there: follow it to the end',
      `latchkey deploy ${ID}   # start a deployment once it is Approved`,
      'id=$(latchkey deploy web-api 1.4.2 production --json | jq -r .deploymentId)',
    ],
  );

  examples(
    watchOption(
      deploymentArgument(
        program
          .command('approve')
          .description(
            'Approve a deployment that is waiting for approval. With --deploy it also starts as soon as the ' +
              'required approvals are in (otherwise it waits, Approved, for someone to run `latchkey deploy ID`).',
          ),
      )
        .option('--deploy', 'approve and deploy: start it once the required approvals are in')
        .option('--comment <text>', 'a note for the deployer and the other approvers'),
      'in this terminal',
    ).action(async (id: string, options: { deploy?: boolean; comment?: string; watch?: boolean }, command: Command) => {
      const out = ctx.output(command);
      const client = await ctx.client();
      // The facts are checked here, not taken from the API, before anything is signed (docs/trust.md).
      const current = await client.call('GET /deployments/{id}', { params: { id } });
      const approval = await signDecision(ctx, client, await client.call('GET /me'), out, current, options.deploy ? 'approve-and-deploy' : 'approve');
      const body = { deploy: Boolean(options.deploy), ...(options.comment === undefined ? {} : { comment: options.comment }), ...(approval ? { approval } : {}) };
      const d = await client.call('POST /deployments/{id}/approve', { params: { id }, body });
      const people = await peopleFor(client, out);
      report(out, d, `Approved ${d.deploymentId} (${d.appName} ${d.releaseVersion} to ${d.environmentName}): ${d.state}, ${d.votes.length} of ${d.requiredApprovals} approvals.`, people);
      if (options.watch) await follow(ctx, client, out, d, people);
    }),
    [`latchkey approve ${ID}`, `latchkey approve ${ID} --deploy --comment "Checked the migration plan"`],
  );

  examples(
    deploymentArgument(program.command('decline').description('Decline a deployment that is waiting for approval; the message is shown to the deployer and everyone else'))
      .requiredOption('--message <text>', 'why (required): what the deployer should fix or wait for')
      .action(async (id: string, options: { message: string }, command: Command) => {
        const out = ctx.output(command);
        if (!options.message.trim()) throw new UsageError('message: a decline needs a message for everyone to read', { field: 'message' });
        const client = await ctx.client();
        const current = await client.call('GET /deployments/{id}', { params: { id } });
        const approval = await signDecision(ctx, client, await client.call('GET /me'), out, current, 'decline', options.message);
        const d = await client.call('POST /deployments/{id}/decline', { params: { id }, body: { message: options.message, ...(approval ? { approval } : {}) } });
        out.result(d, () => `Declined ${d.deploymentId} (${d.appName} ${d.releaseVersion} to ${d.environmentName}). The deployer will see your message.`);
      }),
    [`latchkey decline ${ID} --message "Change freeze until Monday"`],
  );

  examples(
    deploymentArgument(
      program
        .command('cancel')
        .description('Cancel a deployment that has not started: the deployer or the owner while it waits for approval; also an approver once it is Approved'),
    ).action(async (id: string, _options: unknown, command: Command) => {
      const out = ctx.output(command);
      const client = await ctx.client();
      const d = await client.call('POST /deployments/{id}/cancel', { params: { id } });
      out.result(d, () => `Canceled ${d.deploymentId} (${d.appName} ${d.releaseVersion} to ${d.environmentName}).`);
    }),
    [`latchkey cancel ${ID}`],
  );

  examples(
    listOptions(
      program
        .command('status')
        .description(
          'Without an id: the most recent deployments (newest first), and whether the key servers hold the master key. With one: that deployment — its release and ' +
            'environment, the votes, a decline message, its history and outcome, and what happens next.',
        )
        .argument('[deployment]', 'deployment id (dep_…)')
        .option('--env <env>', 'only deployments to this environment (name or id)')
        .option('--watch', 'follow the deployment until it ends: redraws in place on a terminal, else one line per event (one JSON line per change with --json); exit 0 if it succeeds, 1 if it fails, is declined, canceled or expires, 130 on Ctrl-C'),
      DEPLOYMENTS_DEFAULT_LIMIT,
    ).action(async (id: string | undefined, options: ListOptions & { env?: string; watch?: boolean }, command: Command) => {
      const out = ctx.output(command);
      if (id === undefined) {
        if (options.watch) throw new UsageError('--watch follows one deployment: give its id', { hint: `e.g. latchkey status ${ID} --watch` });
        const client = await ctx.client();
        const limit = limitFrom(options, DEPLOYMENTS_DEFAULT_LIMIT);
        const environmentId = options.env === undefined ? undefined : await idOf(client, kinds.environment, options.env);
        const { items, more } = await client.list('GET /deployments', { limit, query: { environmentId } });
        const people = items.length ? await peopleFor(client, out) : new Map<string, Person>();
        const where = options.env === undefined ? '' : ` to ${options.env}`;
        out.list(items, deploymentColumns(people), { empty: `No deployments${where} yet.`, more: moreNote(more, items.length) });
        for (const note of masterKeyNotes(await client.call('GET /master-key'))) out.note(note);
        return;
      }
      if (options.env !== undefined || options.limit !== undefined || options.all) {
        throw new UsageError('--env, --limit and --all are for the list of deployments, not for one deployment');
      }
      const client = await ctx.client();
      // All at once: `status ID` waits one round trip, not three (bench/cli-startup.ts): the
      // deployment, its people, and what checking its receipts reads, should it have any.
      const receiptReads = options.watch ? undefined : askReceiptReads(client);
      const [d, people] = await Promise.all([client.call('GET /deployments/{id}', { params: { id } }), peopleFor(client, out)]);
      if (options.watch) {
        await follow(ctx, client, out, d, people);
        return;
      }
      // The agents' signed receipts, checked here: the backend's word for an install is not enough.
      const receipts = await verifyDeploymentReceipts(ctx, client, d, out, receiptReads);
      out.result(receipts ? { ...d, receipts } : d, () => formatDeployment(d, people, receipts));
      for (const warning of receipts ? receiptWarnings(receipts) : []) out.note(warning);
    }),
    [
      'latchkey status',
      'latchkey status --env production --limit 5',
      `latchkey status ${ID}`,
      `latchkey status ${ID} --watch && echo deployed`,
      `latchkey status ${ID} --json | jq .state`,
    ],
  );

  registerRollback(program, ctx);
};
