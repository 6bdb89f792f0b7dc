import type { ReleaseInstalledReceipt, SignedReceipt } from '#shared/protocol/receipts.ts';

/**
 * What a target reported for one deployment (kept on the deployment, one entry per target). Its
 * receipt is kept as the target signed it: the backend need not trust it, `latchkey status` checks it.
 */
export type TargetReport =
  | { outcome: 'succeeded'; at: string; current: string; output: string; receipt?: SignedReceipt<ReleaseInstalledReceipt> }
  | { outcome: 'failed'; at: string; code: string; message: string };

/** What the workflow does next (functions/workflow/deployment.asl.json, PlanDeploy). */
export type DeployPlan =
  | { action: 'grant'; keyServers: string[]; grantTimeoutSeconds: number; ackTimeoutSeconds: number; targetTimeoutSeconds: number }
  | { action: 'dispatch'; targetTimeoutSeconds: number }
  | { action: 'fail'; reason: string };

/** The key server's answer as the workflow carries it, or why there is none. */
export type GrantOutcome = { requestId: string; agentId: string; result: Record<string, unknown> } | { failed: string };

/** Which deployment a request the deploy step sent belongs to, and what it asked: the grant, or an install (the default). */
export type DeployRequestRef = { deploymentId: string; agentId: string; purpose?: 'grant' };

/** What recording a target's report did. */
export type ReportWrite =
  | { status: 'recorded'; targets: string[]; reports: Record<string, TargetReport>; taskToken?: string }
  /** Already reported (with the report kept, if any) or not a target. */
  | { status: 'duplicate'; report?: TargetReport }
  | { status: 'late' };

/**
 * The deploy step's bookkeeping on the deployment item; every write is one conditional update.
 * Each task of the step may run again (SQS and Step Functions retries, a local stack resuming
 * its executions from the start): what a first run decided or received is kept here, and a
 * repeat finds it instead of deciding or asking again.
 */
export interface DeployRuns {
  /**
   * Records who the deployment goes to, until when the targets may install it, and the token of
   * the wait for their reports. Targets, expiry and reports are set only the first time (a
   * retried dispatch keeps them); the token is replaced. Returns the item's targets, expiry and
   * the reports already in.
   */
  start(
    accountId: string,
    deploymentId: string,
    first: { targets: string[]; expiresAt: string },
    taskToken: string,
  ): Promise<{ targets: string[]; expiresAt: string; reports: Record<string, TargetReport> }>;
  /** Counts one more key-server attempt, naming the grant request it sends, and returns the count (1 the first time). */
  nextGrantAttempt(accountId: string, deploymentId: string, requestId: string): Promise<number>;
  /** The grant wait parked now, the grant request sent last, and whether an outcome is kept. */
  grantWait(accountId: string, deploymentId: string): Promise<{ taskToken?: string; requestId?: string; settled: boolean } | undefined>;
  /**
   * Records one target's report, only if it is a target of the deployment, has not reported yet
   * and the deployment still waits for reports (InProgress, not settled). `duplicate`: already
   * reported (or not a target), with the report kept; `late`: the wait is over, the report is refused.
   */
  recordReport(accountId: string, deploymentId: string, agentId: string, report: TargetReport): Promise<ReportWrite>;
  /**
   * Ends the wait for reports: from now on no report is recorded (recordReport says `late`).
   * Returns the targets and reports as they stand for good, undefined if there is no deployment.
   */
  settle(accountId: string, deploymentId: string, at: string): Promise<{ targets: string[]; reports: Record<string, TargetReport> } | undefined>;
  get(accountId: string, deploymentId: string): Promise<{ targets: string[]; reports: Record<string, TargetReport>; plan?: DeployPlan } | undefined>;
  /** Keeps the first plan made for the deployment; returns the plan kept. */
  keepPlan(accountId: string, deploymentId: string, plan: DeployPlan): Promise<DeployPlan>;
  /**
   * Parks the token of the grant wait on the deployment (replacing an earlier one, whose wait
   * is over): returns the key-server attempts made so far and the grant outcome kept, if any.
   */
  parkGrantWait(accountId: string, deploymentId: string, taskToken: string): Promise<{ attempts: number; outcome?: GrantOutcome }>;
  /** Keeps the first grant outcome; returns the outcome kept and the token of the grant wait parked now. */
  keepGrantOutcome(accountId: string, deploymentId: string, outcome: GrantOutcome): Promise<{ outcome: GrantOutcome; taskToken?: string }>;
  /** Which deployment and agent a deploy request id belongs to (written before the request is sent); false if it was already. */
  putTargetRequest(accountId: string, requestId: string, ref: DeployRequestRef): Promise<boolean>;
  getTargetRequest(accountId: string, requestId: string): Promise<DeployRequestRef | undefined>;
}

/** The deployment key wrapped under the master key, kept like a release key (wrapped-keys table). */
export interface DeploymentKeys {
  put(wrap: { accountId: string; deploymentId: string; version: number; wrappedDeploymentKey: string; createdAt: string }): Promise<void>;
}
