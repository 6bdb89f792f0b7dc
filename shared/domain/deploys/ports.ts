/** What a target reported for one deployment (kept on the deployment, one entry per target). */
export type TargetReport =
  | { outcome: 'succeeded'; at: string; current: string; output: string }
  | { outcome: 'failed'; at: string; code: string; message: string };

/** The deploy step's bookkeeping on the deployment item; every write is one conditional update. */
export interface DeployRuns {
  /**
   * Records who the deployment goes to and the token of the wait for their reports. Targets and
   * reports are set only the first time (a retried dispatch keeps both); the token is replaced.
   * Returns the item's targets and the reports already in.
   */
  start(accountId: string, deploymentId: string, targets: string[], taskToken: string): Promise<{ targets: string[]; reports: Record<string, TargetReport> }>;
  /** Counts one more key-server attempt and returns the count (1 the first time). */
  nextGrantAttempt(accountId: string, deploymentId: string): Promise<number>;
  /**
   * Records one target's report, only if it is a target of the deployment and has not reported
   * yet. undefined when nothing was written (a duplicate); else the targets, reports and token.
   */
  recordReport(
    accountId: string,
    deploymentId: string,
    agentId: string,
    report: TargetReport,
  ): Promise<{ targets: string[]; reports: Record<string, TargetReport>; taskToken?: string } | undefined>;
  get(accountId: string, deploymentId: string): Promise<{ targets: string[]; reports: Record<string, TargetReport> } | undefined>;
  /** Which deployment and target a deploy request id belongs to (written before the request is sent). */
  putTargetRequest(accountId: string, requestId: string, ref: { deploymentId: string; agentId: string }): Promise<boolean>;
  getTargetRequest(accountId: string, requestId: string): Promise<{ deploymentId: string; agentId: string } | undefined>;
}

/** The deployment key wrapped under the master key, kept like a release key (wrapped-keys table). */
export interface DeploymentKeys {
  put(wrap: { accountId: string; deploymentId: string; version: number; wrappedDeploymentKey: string; createdAt: string }): Promise<void>;
}
