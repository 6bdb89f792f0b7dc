import type { SignedStatement, StatementKind } from '#shared/protocol/statements.ts';

/** A statement as the backend keeps it: the newest one per subject, and when it came. */
export type StoredStatement = SignedStatement & { recordedAt: string };

export interface StatementStore {
  /**
   * Keeps the statement if it is newer than the one on record for its subject (one conditional
   * write); `stale` with the one on record otherwise.
   */
  put(accountId: string, signed: SignedStatement, recordedAt: string): Promise<{ stored: true } | { stored: false; current: StoredStatement }>;
  get(accountId: string, kind: StatementKind, subject: string): Promise<StoredStatement | undefined>;
  /** Every statement of the account (of one kind, when given): one Query. */
  list(accountId: string, kind?: StatementKind): Promise<StoredStatement[]>;
}
