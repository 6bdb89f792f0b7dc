import type { ApprovalPolicy } from '#shared/protocol/directory.ts';

export type Group = { accountId: string; groupId: string; name: string; members: string[]; createdAt: string };

export type Environment = {
  accountId: string;
  environmentId: string;
  name: string;
  approval: ApprovalPolicy;
  variables: Record<string, string>;
  /** Targets report their scripts' output (off unless the owner turns it on; absent on older items). */
  reportScriptOutput?: boolean;
  createdAt: string;
  updatedAt: string;
  /** Optimistic concurrency: every update names the version it read. */
  version: number;
};

export type App = { accountId: string; appId: string; name: string; secure: boolean; createdAt: string; updatedAt: string };

