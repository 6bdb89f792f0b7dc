import type { DeployRequestRef, DeployRuns, DeployPlan, GrantOutcome, TargetReport } from '#shared/domain/deploys/ports.ts';

type Item = { targets?: string[]; expiresAt?: string; settledAt?: string; state?: string; reports: Record<string, TargetReport>; taskToken?: string; plan?: DeployPlan; attempts: number; grantRequestId?: string; grantTaskToken?: string; grant?: GrantOutcome };

/** The deploy bookkeeping in memory, with the same conditions as the DynamoDB adapter (functions/workflow/dynamo-deploy-runs.ts). */
export const memoryRuns = () => {
  const items = new Map<string, Item>();
  const refs = new Map<string, DeployRequestRef>();
  const item = (deploymentId: string) => {
    if (!items.has(deploymentId)) items.set(deploymentId, { reports: {}, attempts: 0 });
    return items.get(deploymentId)!;
  };
  const run = (i: Item) => structuredClone({ targets: i.targets ?? [], reports: i.reports, ...(i.taskToken ? { taskToken: i.taskToken } : {}), ...(i.plan ? { plan: i.plan } : {}) });
  const runs: DeployRuns = {
    start: async (_a, deploymentId, first, taskToken) => {
      const i = item(deploymentId);
      i.targets ??= first.targets;
      i.expiresAt ??= first.expiresAt;
      i.taskToken = taskToken;
      return { ...run(i), expiresAt: i.expiresAt };
    },
    nextGrantAttempt: async (_a, deploymentId, requestId) => {
      const i = item(deploymentId);
      i.grantRequestId = requestId;
      return ++i.attempts;
    },
    grantWait: async (_a, deploymentId) => {
      const i = items.get(deploymentId);
      if (!i) return undefined;
      return { ...(i.grantTaskToken ? { taskToken: i.grantTaskToken } : {}), ...(i.grantRequestId ? { requestId: i.grantRequestId } : {}), settled: !!i.grant };
    },
    recordReport: async (_a, deploymentId, agentId, report) => {
      const i = items.get(deploymentId);
      const kept = i?.reports[agentId];
      if (!i?.targets?.includes(agentId) || kept) return { status: 'duplicate', ...(kept ? { report: structuredClone(kept) } : {}) };
      if (i.settledAt || (i.state ?? 'InProgress') !== 'InProgress') return { status: 'late' };
      i.reports[agentId] = report;
      return { status: 'recorded', ...run(i) };
    },
    settle: async (_a, deploymentId, at) => {
      const i = items.get(deploymentId);
      if (!i) return undefined;
      i.settledAt ??= at;
      return run(i);
    },
    get: async (_a, deploymentId) => (items.has(deploymentId) ? run(items.get(deploymentId)!) : undefined),
    keepPlan: async (_a, deploymentId, plan) => structuredClone((item(deploymentId).plan ??= plan)),
    parkGrantWait: async (_a, deploymentId, taskToken) => {
      const i = item(deploymentId);
      i.grantTaskToken = taskToken;
      return { attempts: i.attempts, ...(i.grant ? { outcome: structuredClone(i.grant) } : {}) };
    },
    keepGrantOutcome: async (_a, deploymentId, outcome) => {
      const i = item(deploymentId);
      i.grant ??= outcome;
      return { outcome: structuredClone(i.grant), ...(i.grantTaskToken ? { taskToken: i.grantTaskToken } : {}) };
    },
    putTargetRequest: async (_a, requestId, ref) => (refs.has(requestId) ? false : (refs.set(requestId, ref), true)),
    getTargetRequest: async (_a, requestId) => refs.get(requestId),
  };
  /** The deployment's state as the approval state machine would set it (InProgress unless set). */
  const setState = (deploymentId: string, state: string) => void (item(deploymentId).state = state);
  return Object.assign(runs, { setState });
};
