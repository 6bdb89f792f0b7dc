import { checkEvidence, EvidenceRefused } from '#shared/domain/evidence/check-evidence.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { StatementStore } from '#shared/ports/statement-store.ts';
import type { DeploymentEvidence } from '#shared/protocol/deployment-evidence.ts';
import type { SignedStatement, StatementKind } from '#shared/protocol/statements.ts';
import { fromB64 } from '#shared/protocol/trust.ts';
import type { Deployment } from '../deployments/model.ts';
import type { Release } from '../releases/model.ts';

type Deps = { statements: Pick<StatementStore, 'get'>; directory: Pick<DirectoryStore, 'getAccount'> };

/**
 * A deployment's evidence as the backend hands it to key servers and targets (docs/trust.md): the
 * owner's newest statements for the application, the environment and every person involved (the
 * deployer, the pusher, whoever voted), the deployer's intent and the approvals — signed ones, and
 * the votes as the backend recorded them for an environment that does not require signatures.
 * `check` runs the agents' own check on it first, so a deployment that agents would refuse fails
 * at once, saying why, instead of after a round trip to a key server.
 */
export const makeEvidenceOf = ({ statements, directory }: Deps) => {
  const statementOf = async <K extends StatementKind>(accountId: string, kind: K, subject: string) => {
    const stored = await statements.get(accountId, kind, subject);
    return stored ? ({ statement: stored.statement, signature: stored.signature } as SignedStatement<K>) : undefined;
  };

  const build = async (deployment: Deployment, release: Pick<Release, 'createdBy'>): Promise<{ evidence: DeploymentEvidence } | { missing: string }> => {
    const { accountId } = deployment;
    if (!deployment.intent) return { missing: 'it has no intent signed by its deployer (deployments are started with `latchkey deploy`): key servers and targets act on none other' };
    const [application, environment] = await Promise.all([statementOf(accountId, 'application', deployment.appId), statementOf(accountId, 'environment', deployment.environmentId)]);
    if (!application) return { missing: `application ${deployment.appName} has no statement signed by the owner (the owner runs \`latchkey apps sign ${deployment.appName}\`)` };
    if (!environment) return { missing: `environment ${deployment.environmentName} has no statement signed by the owner (the owner runs \`latchkey envs sign ${deployment.environmentName}\`)` };
    const involved = [...new Set([deployment.deployerId, release.createdBy, ...deployment.votes.map((v) => v.userId), ...(deployment.declined ? [deployment.declined.userId] : [])])];
    const people = (await Promise.all(involved.map((userId) => statementOf(accountId, 'person', userId)))).filter((p): p is SignedStatement<'person'> => !!p);
    const approvals = [...deployment.votes.flatMap((v) => (v.approval ? [v.approval] : [])), ...(deployment.declined?.approval ? [deployment.declined.approval] : [])];
    const passkeyApprovals = [...deployment.votes.flatMap((v) => (v.passkey ? [v.passkey] : [])), ...(deployment.declined?.passkey ? [deployment.declined.passkey] : [])];
    const unsigned = deployment.votes.filter((v) => !v.approval && !v.passkey);
    return {
      evidence: {
        application,
        environment,
        people,
        intent: deployment.intent,
        approvals,
        ...(passkeyApprovals.length ? { passkeyApprovals } : {}),
        ...(unsigned.length ? { backendApprovals: unsigned.map((v) => ({ approverId: v.userId, decision: v.deploy ? ('approve-and-deploy' as const) : ('approve' as const), at: v.at })) } : {}),
      },
    };
  };

  return {
    build,

    /** The evidence, or why agents would refuse it (checked under the account's owner key, as they check it). */
    check: async (deployment: Deployment, release: Pick<Release, 'createdBy' | 'manifest' | 'encrypted'>, now: Date): Promise<{ evidence: DeploymentEvidence } | { refused: string }> => {
      const built = await build(deployment, release);
      if ('missing' in built) return { refused: `Deployment ${deployment.deploymentId} cannot go ahead: ${built.missing}` };
      const account = await directory.getAccount(deployment.accountId);
      if (!account?.ownerKey || !release.manifest) return { refused: `Deployment ${deployment.deploymentId} cannot go ahead: the account has no owner key, or the release no signed manifest` };
      try {
        await checkEvidence({
          ownerKey: fromB64(account.ownerKey.publicKey),
          evidence: built.evidence,
          expect: { ...deployment, manifest: fromB64(release.manifest), encrypted: release.encrypted },
          pins: {},
          now: now.getTime(),
        });
      } catch (error) {
        if (error instanceof EvidenceRefused) return { refused: `Key servers and targets would refuse deployment ${deployment.deploymentId}: ${error.code}: ${error.message}` };
        throw error;
      }
      return built;
    },
  };
};

export type EvidenceOf = ReturnType<typeof makeEvidenceOf>;
