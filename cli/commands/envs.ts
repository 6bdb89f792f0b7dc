import { InvalidArgumentError, type Command } from 'commander';
import type { ApprovalPolicy } from '#shared/protocol/directory.ts';
import type { ApiClient, BodyOf, ItemOf } from '../api-client.ts';
import { collect, commaList, examples, integer, limitFrom, listOptions, moreNote, onOff, parseAssignment, type ListOptions } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { UsageError } from '../errors.ts';
import { formatRecord, formatTime, type Column } from '../output.ts';
import { signEnvironment, signedWhereTheKeyIs } from '../owner-statements.ts';
import { find, idsOf, kinds } from '../resolve.ts';

type EnvironmentView = ItemOf<'GET /environments'>;

export type PolicyOptions = {
  approval?: boolean;
  approvers?: string[];
  required?: number;
  allowSelfApproval?: boolean;
  preventSelfApproval?: boolean;
  windowHours?: number;
  /** `--signed-approvals` (and, on `set`, its older `on|off` form). */
  signedApprovals?: boolean;
  /** `--unsigned-approvals`: the owner's explicit opt-out. */
  unsignedApprovals?: boolean;
};

/** `approval.signed` as the options ask for it, or undefined to leave it (the API signs new environments' approvals). */
export const signedFrom = (options: Pick<PolicyOptions, 'signedApprovals' | 'unsignedApprovals'>): boolean | undefined => {
  if (options.unsignedApprovals && options.signedApprovals !== undefined) throw new UsageError('Give --signed-approvals or --unsigned-approvals, not both');
  return options.unsignedApprovals ? false : options.signedApprovals;
};

/** Only the settings given on the command line: the API keeps the rest (and its defaults). */
export const approvalFrom = (options: PolicyOptions, approverGroups: string[] | undefined): Partial<ApprovalPolicy> | undefined => {
  if (options.allowSelfApproval && options.preventSelfApproval) throw new UsageError('Give --allow-self-approval or --prevent-self-approval, not both');
  const signed = signedFrom(options);
  const policy: Partial<ApprovalPolicy> = {
    ...(options.approval === undefined ? {} : { enabled: options.approval }),
    ...(approverGroups === undefined ? {} : { approverGroups }),
    ...(options.required === undefined ? {} : { requiredApprovals: options.required }),
    ...(options.allowSelfApproval ? { preventSelfApproval: false } : {}),
    ...(options.preventSelfApproval ? { preventSelfApproval: true } : {}),
    ...(options.windowHours === undefined ? {} : { windowHours: options.windowHours }),
    ...(signed === undefined ? {} : { signed }),
  };
  return Object.keys(policy).length ? policy : undefined;
};

/**
 * PATCH replaces the whole `variables` map, so a change is made to the current map and the whole
 * map sent back. Nothing else guards against a concurrent edit (the API has no ETags yet): the
 * later write wins.
 */
export const variablesAfter = (current: Record<string, string>, set: readonly string[] = [], unset: readonly string[] = []): Record<string, string> => {
  const next = { ...current };
  for (const key of unset) {
    if (!(key in next)) throw new UsageError(`--unset ${key}: no such variable`, { field: `variables.${key}` });
    delete next[key];
  }
  for (const assignment of set) {
    const [key, value] = parseAssignment(assignment);
    next[key] = value;
  }
  return next;
};

/** The body of `envs set`: fails with "nothing to change" before asking the API. */
export const environmentPatch = (
  current: Pick<EnvironmentView, 'variables'>,
  options: PolicyOptions & { var?: string[]; unset?: string[]; scriptOutput?: boolean },
  approverGroups: string[] | undefined,
): BodyOf<'PATCH /environments/{id}'> => {
  const approval = approvalFrom(options, approverGroups);
  const changesVariables = Boolean(options.var?.length || options.unset?.length);
  if (!approval && !changesVariables && options.scriptOutput === undefined) {
    throw new UsageError('Nothing to change: give --var, --unset, --script-output or an approval option');
  }
  return {
    ...(approval ? { approval } : {}),
    ...(changesVariables ? { variables: variablesAfter(current.variables, options.var, options.unset) } : {}),
    ...(options.scriptOutput === undefined ? {} : { reportScriptOutput: options.scriptOutput }),
  };
};

/** How an environment's approvals stand: an opted-out one stands out in `envs list` and `envs show`. */
export const approvalsColumn = (e: Pick<EnvironmentView, 'approval'>): string => (e.approval.signed ? 'signed' : 'UNSIGNED (owner opted out)');

/** What the owner is told on opting out: the approvals then are the backend's word. */
export const unsignedWarning = (name: string): string =>
  `Warning: approvals in ${name} are not signed: an approver's click on the emailed link (or an API call with their token) counts, ` +
  `and key servers and targets take the backend's word for it. Signed approvals again: \`latchkey envs update ${name} --signed-approvals\`.`;

export const environmentColumns = (groupNames: ReadonlyMap<string, string>): Column<EnvironmentView>[] => [
  { header: 'id', value: (e) => e.environmentId },
  { header: 'name', value: (e) => e.name },
  { header: 'approval', value: (e) => (e.approval.enabled ? 'on' : 'off') },
  { header: 'approvers', value: (e) => e.approval.approverGroups.map((id) => groupNames.get(id) ?? id).join(', ') },
  { header: 'required', value: (e) => e.approval.requiredApprovals },
  { header: 'self-approval', value: (e) => (e.approval.preventSelfApproval ? 'prevented' : 'allowed') },
  { header: 'window', value: (e) => `${e.approval.windowHours}h` },
  { header: 'approvals', value: (e) => approvalsColumn(e) },
  { header: 'script output', value: (e) => (e.reportScriptOutput ? 'reported' : 'kept on targets') },
  // Names only: values may be secrets, and `envs show` is there to see them on purpose.
  { header: 'variables', value: (e) => Object.keys(e.variables).sort().join(', ') },
];

const groupNamesFor = async (client: ApiClient, environments: readonly EnvironmentView[]) => {
  const names = new Map<string, string>();
  if (environments.some((e) => e.approval.approverGroups.length)) {
    for (const group of (await client.list('GET /groups')).items) names.set(group.groupId, group.name);
  }
  return names;
};

/** `--script-output`: whether targets report their scripts' output. */
const scriptOutput = (value: string): boolean => {
  if (value === 'reported') return true;
  if (value === 'local') return false;
  throw new InvalidArgumentError('must be local or reported');
};

/** The options of `create` and `set`, in one order, so the two help pages read alike. */
const environmentOptions = (command: Command, mode: 'create' | 'set') => {
  command.option('--var <KEY=VALUE>', 'a variable for deploy scripts, one the release\'s latchkey.yml declares (repeatable)', collect);
  if (mode === 'set') command.option('--unset <KEY>', 'remove a variable (repeatable)', collect);
  // `local` by default: script output stays in each target's log, readable only by its agent.
  command.option('--script-output <local|reported>', 'keep deploy scripts\' output on the targets (default), or send it back in reports (it then leaves the machines)', scriptOutput);
  if (mode === 'create') command.option('--approval', 'deployments need approval');
  else command.option('--approval <on|off>', 'turn approval on or off', onOff);
  command
    .option('--approvers <groups>', 'comma-separated approver groups (names or ids); "" for none', commaList)
    .option('--required <n>', 'approvals needed before a deployment may go (1-20)', integer(1, 20))
    .option('--allow-self-approval', 'let whoever started a deployment approve it too (prevented by default)');
  if (mode === 'set') command.option('--prevent-self-approval', 'whoever started a deployment may not approve it');
  // Signed by default (new environments); `on|off` after `--signed-approvals` is the older form of `set`, still accepted.
  if (mode === 'create') command.option('--signed-approvals', 'approvals must be signed by the approvers (`latchkey approve`), checked by key servers and targets (the default)');
  else command.option('--signed-approvals [on|off]', 'approvals must be signed by the approvers again (`latchkey approve`), checked by key servers and targets', onOff);
  command.option('--unsigned-approvals', 'opt out: an approver\'s click on the emailed link counts, on the backend\'s word (key servers and targets cannot check it)');
  return command.option('--window-hours <h>', 'how long a deployment waits for approval (1-720, default 72)', integer(1, 24 * 30));
};

export const registerEnvironments = (program: Command, ctx: Context) => {
  const envs = program.command('envs').description('Environments: approval policy and variables for deploy scripts');

  examples(
    environmentOptions(
      envs.command('create').description('Create an environment').argument('<name>', 'lowercase letters, digits and dashes, e.g. production'),
      'create',
    ).action(async (name: string, options: PolicyOptions & { var?: string[]; scriptOutput?: boolean }, command: Command) => {
      const out = ctx.output(command);
      const client = await ctx.client();
      const groups = options.approvers === undefined ? undefined : await idsOf(client, kinds.group, options.approvers);
      const approval = approvalFrom(options, groups);
      const variables = options.var ? variablesAfter({}, options.var) : undefined;
      const body = { name, ...(approval ? { approval } : {}), ...(variables ? { variables } : {}), ...(options.scriptOutput === undefined ? {} : { reportScriptOutput: options.scriptOutput }) };
      const environment = await client.call('POST /environments', { body });
      const me = await client.call('GET /me');
      await signedWhereTheKeyIs(ctx, me, out, `environment ${environment.name}`, `latchkey envs sign ${environment.name}`, () => signEnvironment(ctx, client, me, out, environment));
      out.result(environment, () => `Created environment ${environment.name} (${environment.environmentId}); approval ${environment.approval.enabled ? 'on' : 'off'}; approvals ${approvalsColumn(environment)}.`);
      if (environment.approval.signed === false) out.note(unsignedWarning(environment.name));
      if (!options.approval && (options.approvers?.length || options.required)) {
        out.note('Note: approval is off for this environment; turn it on with `latchkey envs set ' + name + ' --approval on`.');
      }
    }),
    [
      'latchkey envs create staging --var REGION=eu-west-1',
      'latchkey envs create production --approval --approvers release-managers --required 2 --window-hours 24',
      'latchkey envs create sandbox --approval --approvers developers --unsigned-approvals',
    ],
  );

  examples(
    listOptions(envs.command('list').description('List environments (variable names only; `envs show` for values)')).action(
      async (options: ListOptions, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const { items, more } = await client.list('GET /environments', { limit: limitFrom(options) });
        const names = out.json ? new Map<string, string>() : await groupNamesFor(client, items);
        out.list(items, environmentColumns(names), { empty: 'No environments yet.', more: moreNote(more, items.length) });
      },
    ),
    ['latchkey envs list'],
  );

  examples(
    envs
      .command('show')
      .description('Show one environment, with its variables and their values')
      .argument('<env>', 'environment name or id')
      .action(async (ref: string, _options: unknown, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const environment = await find(client, kinds.environment, ref);
        const names = await groupNamesFor(client, [environment]);
        out.result(environment, () =>
          formatRecord([
            ...environmentColumns(names).map((column) => [column.header, column.value(environment)] as const).filter(([header]) => header !== 'variables'),
            ['created', formatTime(environment.createdAt)],
            ['updated', formatTime(environment.updatedAt)],
            ...Object.entries(environment.variables)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([key, value]) => [`$${key}`, value] as const),
          ]),
        );
      }),
    ['latchkey envs show production'],
  );

  examples(
    environmentOptions(
      envs
        .command('set')
        .alias('update')
        .description('Change an environment: variables (the others are kept) and approval settings')
        .argument('<env>', 'environment name or id'),
      'set',
    ).action(async (ref: string, options: PolicyOptions & { var?: string[]; unset?: string[]; scriptOutput?: boolean }, command: Command) => {
      const out = ctx.output(command);
      const client = await ctx.client();
      const current = await find(client, kinds.environment, ref);
      const groups = options.approvers === undefined ? undefined : await idsOf(client, kinds.group, options.approvers);
      const body = environmentPatch(current, options, groups);
      const updated = await client.call('PATCH /environments/{id}', { params: { id: current.environmentId }, body });
      const me = await client.call('GET /me');
      await signedWhereTheKeyIs(ctx, me, out, `environment ${updated.name}`, `latchkey envs sign ${updated.name}`, () => signEnvironment(ctx, client, me, out, updated));
      out.result(updated, () => `Updated ${updated.name}.`);
      if (body.approval?.signed === false) out.note(unsignedWarning(updated.name));
    }),
    [
      'latchkey envs set production --var API_URL=https://api.example.com --unset OLD_FLAG',
      'latchkey envs set production --approval on --approvers release-managers,security --required 2',
      'latchkey envs update sandbox --unsigned-approvals   # opt out: the emailed link\'s click counts',
      'latchkey envs update sandbox --signed-approvals     # back to signed approvals',
    ],
  );

  examples(
    envs
      .command('sign')
      .description('Sign, with the owner key, the statement key servers and targets check for an environment (its approvers as the groups hold them now, its variables); done by create and set, and needed again after a group changes')
      .argument('<env>', 'environment name or id')
      .action(async (ref: string, _options: unknown, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const environment = await find(client, kinds.environment, ref);
        const statement = await signEnvironment(ctx, client, await client.call('GET /me'), out, environment);
        out.result(statement, () => `The owner's statement for ${environment.name} is version ${statement.version}.`);
      }),
    ['latchkey envs sign production'],
  );
};
