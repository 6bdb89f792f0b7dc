import type { ApprovalMail, Deployment, DeploymentState } from '#shared/domain/deployments/model.ts';
import type { Page, PageRequest } from './paging.ts';

/** Where the workflow waits, and the token that ends the wait. Kept apart from the state fields. */
export type ParkedTask = { taskToken: string; taskStage: 'approval' | 'deploy' };

export type StoredDeployment = Deployment & Partial<ParkedTask> & { notifiedAt?: string };

export interface DeploymentStore {
  create(deployment: Deployment): Promise<void>;
  get(accountId: string, deploymentId: string): Promise<StoredDeployment | undefined>;
  /** Newest first. */
  list(accountId: string, page: PageRequest, environmentId?: string): Promise<Page<Deployment>>;
  /**
   * Writes the state fields of `next` only if the stored version is still `expectedVersion`;
   * undefined when another writer got there first. Returns the item as stored, parked task included.
   */
  save(next: Deployment, expectedVersion: number): Promise<StoredDeployment | undefined>;
  /** Parks a task token only while the deployment is in `expectedState`; false otherwise. */
  parkTask(accountId: string, deploymentId: string, task: ParkedTask, expectedState: DeploymentState): Promise<boolean>;
  /** Marks the deploy step as started, once; false if it already was (a retry or a replay). */
  markDeployStarted(accountId: string, deploymentId: string, at: string): Promise<boolean>;
  /** Marks approvers as notified, once; false if they already were. */
  /** Once per deployment: the approvers were notified (or tried), and how the mail went. */
  markNotified(accountId: string, deploymentId: string, mail: ApprovalMail): Promise<boolean>;
}

/** The workflow engine as the use cases see it. */
export interface Workflow {
  start(deployment: Deployment): Promise<void>;
  /** Ends a wait with a decision; a wait that already ended is not an error. */
  resume(taskToken: string, output: Record<string, unknown>): Promise<void>;
  /** Tells a wait with a heartbeat timeout that its worker is alive; a wait that already ended is not an error. */
  heartbeat(taskToken: string): Promise<void>;
}
