import type { PasskeyCredential } from '#shared/protocol/passkeys.ts';
import type { StatementKind, StatementOf } from '#shared/protocol/statements.ts';
import type { ApiClient, ItemOf } from './api-client.ts';
import type { Context } from './context.ts';
import { ownerKeyPath, readKeyFile, type Me } from './keys.ts';
import type { Output } from './output.ts';
import { signAndRecord, type StatementContent } from './statements.ts';

/**
 * What the owner's commands sign about environments, applications and people (docs/trust.md),
 * each through `signAndRecord` (cli/statements.ts): on the owner's machine, with the owner key,
 * only ever newer than what this machine and the backend have seen.
 */

type Content<K extends StatementKind> = StatementContent<K>;

/** Signs and records `content` as the owner's newest statement about its subject, unless it says nothing new. */
export const recordOwnerStatement = async <K extends StatementKind>(
  ctx: Context,
  client: ApiClient,
  me: Me,
  out: Output,
  kind: K,
  content: Content<K>,
  describe: string,
): Promise<StatementOf<K>> => {
  const subject = subjectOfContent(kind, content);
  const recorded = await signAndRecord(ctx, client, me, out, { kind, subject, build: () => content, describe: () => [describe] });
  return recorded.signed.statement;
};

/** The subject a statement's content is about (shared/protocol/statements.ts subjectOf, before the envelope). */
const subjectOfContent = (kind: StatementKind, content: Record<string, unknown>): string => {
  const field = ({ person: 'userId', environment: 'environmentId', application: 'appId', agent: 'agentId' } as const)[kind];
  return content[field] as string;
};

type EnvironmentView = ItemOf<'GET /environments'>;

/** An environment as the owner signs it: the approver groups resolved to the people in them now. */
export const environmentStatementContent = async (client: ApiClient, environment: EnvironmentView): Promise<Content<'environment'>> => {
  const groups = environment.approval.approverGroups.length ? (await client.list('GET /groups')).items : [];
  const approvers = [...new Set(groups.filter((g) => environment.approval.approverGroups.includes(g.groupId)).flatMap((g) => g.members))].sort();
  return {
    environmentId: environment.environmentId,
    name: environment.name,
    deployers: { roles: ['owner', 'deployer'], people: [] },
    approval: {
      required: environment.approval.enabled,
      approvers,
      count: environment.approval.requiredApprovals,
      preventSelfApproval: environment.approval.preventSelfApproval,
      ownerMayApprove: true,
      windowHours: environment.approval.windowHours,
      // As the owner set it (`envs create|update --unsigned-approvals` opts out); an API that leaves it out means unsigned.
      signed: environment.approval.signed ?? false,
    },
    variables: environment.variables,
    reportScriptOutput: environment.reportScriptOutput,
  };
};

export const signEnvironment = async (ctx: Context, client: ApiClient, me: Me, out: Output, environment: EnvironmentView) =>
  recordOwnerStatement(ctx, client, me, out, 'environment', await environmentStatementContent(client, environment), `environment ${environment.name} (${environment.environmentId})`);

/**
 * After a change made from a machine without the owner key: the change is made, and the owner is
 * told to sign it where the key is (agents act on nothing the owner has not signed).
 */
export const signedWhereTheKeyIs = async <T>(ctx: Context, me: Me, out: Output, what: string, signCommand: string, sign: () => Promise<T>): Promise<T | undefined> => {
  if (me.user.role === 'owner' && !(await readKeyFile(ownerKeyPath(ctx.configPath, me.accountId)))?.privateKey) {
    out.note(`Note: the owner key is not on this machine, so ${what} is not signed: key servers and targets act on it only once the owner runs \`${signCommand}\` where the owner key is.`);
    return undefined;
  }
  return sign();
};

/** Every environment whose approvers come from `groupId`: its statement names the group's members. */
export const signEnvironmentsOfGroup = async (ctx: Context, client: ApiClient, me: Me, out: Output, groupId: string) => {
  for (const environment of (await client.list('GET /environments')).items) {
    if (environment.approval.approverGroups.includes(groupId)) await signEnvironment(ctx, client, me, out, environment);
  }
};

export const signApplication = (ctx: Context, client: ApiClient, me: Me, out: Output, app: { appId: string; name: string; secure: boolean }) =>
  recordOwnerStatement(ctx, client, me, out, 'application', { appId: app.appId, name: app.name, secure: app.secure }, `application ${app.name} (${app.appId}), ${app.secure ? 'secure' : 'plain'}`);

type Person = { userId: string; name: string; email: string; role: 'owner' | 'deployer' | 'approver' };

/**
 * A person as the owner vouches for them: role, and their signing key when the owner vouches for
 * one. What is not given stays as the owner's newest statement says (a disabled person stays
 * disabled when their key is vouched for; a vouched key stays when nothing new is said of it).
 */
export const signPerson = async (ctx: Context, client: ApiClient, me: Me, out: Output, person: Person, signingKey: string | undefined) =>
  (
    await signAndRecord(ctx, client, me, out, {
      kind: 'person',
      subject: person.userId,
      build: (previous) => {
        const key = signingKey ?? previous?.signingKey;
        // Passkeys the owner vouched for stay named: only `users withdraw-passkey` takes one away.
        return { userId: person.userId, name: person.name, email: person.email, role: person.role, status: previous?.status ?? 'active', ...(key ? { signingKey: key } : {}), ...(previous?.passkeys ? { passkeys: previous.passkeys } : {}) };
      },
      describe: (next) => [`person       ${next.name} <${next.email}> (${next.userId}), ${next.role}, ${next.status}`, ...(next.signingKey ? [`signing key  ${next.signingKey}`] : [])],
    })
  ).signed.statement;

/**
 * A person statement with other passkeys (`users vouch-passkey`, `withdraw-passkey`): `change`
 * gets the newest statement's passkeys and answers the next ones; everything else stays as the
 * owner's newest statement says (the directory's word only for a first statement).
 */
export const signPersonPasskeys = (
  ctx: Context,
  client: ApiClient,
  me: Me,
  out: Output,
  person: Person & { status?: 'active' | 'disabled' | 'removed' | undefined },
  change: (previous: StatementOf<'person'> | undefined) => PasskeyCredential[],
  describe: (next: StatementOf<'person'>) => string[],
) =>
  signAndRecord(ctx, client, me, out, {
    kind: 'person',
    subject: person.userId,
    build: (previous) => {
      const passkeys = change(previous);
      return {
        userId: person.userId,
        name: previous?.name ?? person.name,
        email: previous?.email ?? person.email,
        role: previous?.role ?? person.role,
        status: previous?.status ?? person.status ?? 'active',
        ...(previous?.signingKey ? { signingKey: previous.signingKey } : {}),
        ...(passkeys.length ? { passkeys } : {}),
      };
    },
    describe: (next) => [`person    ${next.name} <${next.email}> (${next.userId}), ${next.role}, ${next.status}`, ...describe(next)],
  });
