import type { AuditEvent } from '#shared/domain/audit/chain.ts';
import type { Page, PageRequest } from './paging.ts';

export interface AuditLog {
  /** The newest event of the account, read consistently. */
  head(accountId: string): Promise<AuditEvent | undefined>;
  /** Writes the event only if its sequence number is free; false when another writer took it. */
  putIfFree(event: AuditEvent): Promise<boolean>;
  /** Oldest first. */
  page(accountId: string, request: PageRequest): Promise<Page<AuditEvent>>;
}
