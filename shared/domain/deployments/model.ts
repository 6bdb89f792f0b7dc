import type { ReleaseSigner } from '../releases/model.ts';
import type { PasskeyApproval, SignedApproval, SignedIntent } from '#shared/protocol/deployment-evidence.ts';
import type { GrantOutcome, TargetReport } from '../deploys/ports.ts';

export const deploymentStates = ['PendingApproval', 'Approved', 'InProgress', 'Succeeded', 'Failed', 'Declined', 'Canceled', 'Expired'] as const;
export type DeploymentState = (typeof deploymentStates)[number];

export const terminalStates: ReadonlySet<DeploymentState> = new Set(['Succeeded', 'Failed', 'Declined', 'Canceled', 'Expired']);

/**
 * A vote; `approval` is the approver's signature over the intent and the decision, where one was
 * given with the CLI, `passkey` the same decision made with a vouched passkey on the approval page.
 */
export type Vote = { userId: string; at: string; deploy: boolean; comment?: string; approval?: SignedApproval; passkey?: PasskeyApproval };

/** The environment's policy as it was when the deployment started: later edits do not move it. */
export type PolicySnapshot = {
  approvalRequired: boolean;
  requiredApprovals: number;
  preventSelfApproval: boolean;
  windowHours: number;
  /** Approvals must be signed (the environment's setting when the deployment started). */
  signedApprovals?: boolean;
};

export type ApprovalMail = { at: string; sent: number; failed: { userId: string; reason: string }[] };

export type Transition = { at: string; from: DeploymentState | null; to: DeploymentState; by: string };

export type Deployment = {
  accountId: string;
  deploymentId: string;
  appId: string;
  appName: string;
  releaseId: string;
  releaseVersion: string;
  releaseDigest: string;
  /** Whose vouched key signed the release's manifest (verified when the release was completed). */
  releaseSigner?: ReleaseSigner;
  encrypted: boolean;
  environmentId: string;
  environmentName: string;
  deployerId: string;
  ownerId: string;
  /** Members of the environment's approver groups when the deployment started. */
  eligibleApprovers: string[];
  policy: PolicySnapshot;
  state: DeploymentState;
  votes: Vote[];
  declined?: { userId: string; at: string; message: string; approval?: SignedApproval; passkey?: PasskeyApproval };
  /** The deployer's signed intent: what key servers and targets act on. */
  intent?: SignedIntent;
  canceled?: { userId: string; at: string };
  outcome?: { at: string; reason?: string };
  /** How the approval mail went (written once by the notify task): whom it failed to reach, and why. */
  approvalMail?: ApprovalMail;
  createdAt: string;
  updatedAt: string;
  /** When a deployment still waiting for a decision expires (the approval window). */
  expiresAt: string;
  history: Transition[];
  /** Bumped on every write; each write names the version it read. */
  version: number;
  /** Set once, by the one deploy step run: a retried or replayed step finds it and stops. */
  deployStartedAt?: string;
  /** Written by the deploy step (shared/domain/deploys), never by a state-machine save: who it went to, and what each reported. */
  deployTargets?: string[];
  targetReports?: Record<string, TargetReport>;
  /** Also the deploy step's: the key server's grant as it replied (its receipt included), or why there is none. */
  grantOutcome?: GrantOutcome;
};
