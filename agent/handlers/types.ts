import type { AgentKeys } from '#shared/crypto/index.ts';
import type { AgentRequest, AgentRequestType } from '#shared/protocol/agent-messages.ts';
import type { Logger } from '../log.ts';
import type { MasterPins } from '../master-pins.ts';
import type { StatementPins } from '../statement-pins.ts';

/**
 * Who this agent is: its enrolment and its keys. The owner key is the one pinned at init; the
 * statement pins, the newest version of each owner statement it has seen.
 */
export interface AgentIdentity {
  accountId: string;
  agentId: string;
  role: 'keyserver' | 'target';
  keys: AgentKeys;
  ownerKey: Uint8Array;
  statements: StatementPins;
}

export interface HandlerContext {
  self: AgentIdentity;
  log: Logger;
  /** The create-master-key request id that already minted and answered `version` here, if any. */
  mintedVersion(version: number): string | undefined;
  /** Commitments of the master key versions this agent holds. */
  masters: MasterPins;
}

/**
 * A permanent refusal: answered with a failed reply and not retried. `code` goes to the
 * backend as the error code (Step Functions sees `Agent.<code>`); `message` names ids only.
 */
export class RequestRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RequestRefused';
  }
}

export type Handler<T extends AgentRequestType> = (request: Extract<AgentRequest, { type: T }>, context: HandlerContext) => Promise<Record<string, unknown>>;

/** The requests one role answers; a request type missing here is refused as unsupported. */
export type HandlerSet = { readonly [T in AgentRequestType]?: Handler<T> };
