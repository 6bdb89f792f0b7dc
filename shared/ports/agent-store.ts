import type { MasterKeyState } from '#shared/domain/agents/master-key-plan.ts';
import type { Agent, AgentRequestRecord, StoredEnrolment, WrappedMaster, WrappedReleaseKey } from '#shared/domain/agents/model.ts';
import type { SignedStatement } from '#shared/protocol/statements.ts';
import type { Page, PageRequest } from './paging.ts';

export interface AgentStore {
  putEnrolment(enrolment: StoredEnrolment): Promise<void>;
  getEnrolment(accountId: string, enrolmentId: string): Promise<StoredEnrolment | undefined>;
  /** Finds an enrolment by id alone (the id is in the enrolment token). */
  findEnrolment(enrolmentId: string): Promise<StoredEnrolment | undefined>;
  /** Stores the owner signature, once. */
  signEnrolment(accountId: string, enrolmentId: string, signature: string): Promise<StoredEnrolment>;
  /** Marks the enrolment used by `agentId`, once; false if it already was. */
  useEnrolment(accountId: string, enrolmentId: string, agentId: string, at: string): Promise<boolean>;

  putAgent(agent: Agent): Promise<void>;
  getAgent(accountId: string, agentId: string): Promise<Agent | undefined>;
  findAgent(agentId: string): Promise<Agent | undefined>;
  listAgents(accountId: string, page: PageRequest): Promise<Page<Agent>>;
  /**
   * All agents of the account with a role that the owner confirmed (their agent statement is
   * active) and that are not removed: the ones orchestration may ask and name to peers.
   */
  agentsWithRole(accountId: string, role: Agent['role']): Promise<Agent[]>;
  /** Keeps the owner's agent statement on the agent, if newer than the one it holds; false otherwise. */
  setAgentStatement(accountId: string, agentId: string, signed: SignedStatement<'agent'>): Promise<boolean>;
  /**
   * Records a heartbeat: `receivedAt` (the backend's clock) becomes lastSeenAt, only if `claimedAt`
   * (the agent's) is newer than the last heartbeat accepted; false for a replay or a removed agent.
   */
  markSeen(accountId: string, agentId: string, heartbeat: { claimedAt: string; receivedAt: string }): Promise<boolean>;
  /** Records that the agent did not take a request in time (liveness.ts): it counts as offline until its next heartbeat. */
  markUnresponsive(accountId: string, agentId: string, at: string): Promise<void>;
  /** Accepts a session challenge only if it is newer than the last accepted one. */
  acceptSession(accountId: string, agentId: string, at: string): Promise<boolean>;
  removeAgent(accountId: string, agentId: string, at: string): Promise<Agent | undefined>;

  putRequest(request: AgentRequestRecord): Promise<void>;
  getRequest(accountId: string, requestId: string): Promise<AgentRequestRecord | undefined>;
  /** pending -> done or failed, once; false if it was not pending. */
  closeRequest(accountId: string, requestId: string, state: 'done' | 'failed', at: string, error?: string): Promise<boolean>;
  /** Records the first acknowledgement of a pending request; false if it was not pending or already acknowledged. */
  acknowledgeRequest(accountId: string, requestId: string, at: string): Promise<boolean>;

  /** The account's master-key plan state (master-key-plan.ts). */
  getMasterKeyState(accountId: string): Promise<MasterKeyState | undefined>;
  /** Writes the state over `expectedRevision` (0: none yet), bumping the revision; false if another writer was first. */
  putMasterKeyState(accountId: string, state: MasterKeyState, expectedRevision: number): Promise<boolean>;
}

export interface KeyStore {
  /** Idempotent: the same version for the same agent is written once. */
  putWrappedMaster(wrap: WrappedMaster): Promise<void>;
  wrappedMasters(accountId: string): Promise<WrappedMaster[]>;
  putWrappedReleaseKey(wrap: WrappedReleaseKey): Promise<void>;
  getWrappedReleaseKey(accountId: string, releaseId: string): Promise<WrappedReleaseKey | undefined>;
}

/** The per-agent request queues. */
export interface AgentQueues {
  create(agentId: string): Promise<string>;
  send(queueUrl: string, body: unknown): Promise<void>;
  remove(queueUrl: string): Promise<void>;
}

export type AgentCredentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration: string };

export interface CredentialIssuer {
  /** Short-lived credentials that can read only this agent's queue and send only to the reply queue. */
  issue(agent: { agentId: string; queueUrl: string }): Promise<AgentCredentials>;
}
