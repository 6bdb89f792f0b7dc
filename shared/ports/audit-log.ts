import type { AuditEvent } from '#shared/domain/audit/chain.ts';
import type { Page, PageRequest } from './paging.ts';

export interface AuditLog {
  /** The newest event of the account, read consistently. */
  head(accountId: string): Promise<AuditEvent | undefined>;
  /** Writes the event only if its sequence number is free; false when another writer took it. */
  putIfFree(event: AuditEvent): Promise<boolean>;
  /** Claims `key` in the account's log, once; false if it already was (a redelivered message). */
  claim(accountId: string, key: string): Promise<boolean>;
  /** Gives a claim back, so that a retry can have the effect the claim was for. */
  release(accountId: string, key: string): Promise<void>;
  /** Oldest first. */
  page(accountId: string, request: PageRequest): Promise<Page<AuditEvent>>;
}
