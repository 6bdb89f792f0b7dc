import type { ApiToken, User } from '../accounts/model.ts';
import type { App, Environment, Group } from './model.ts';

// What the API shows of each item: never the account id (implied by the token), never a hash.
export const userView = ({ userId, name, email, role, createdAt, status }: User) => ({ userId, name, email, role, status: status ?? ('active' as const), createdAt });
export const tokenView = ({ tokenId, userId, label, createdAt, expiresAt, revokedAt, parentTokenId }: ApiToken) => ({
  tokenId,
  userId,
  label,
  createdAt,
  expiresAt,
  ...(revokedAt ? { revokedAt } : {}),
  ...(parentTokenId ? { parentTokenId } : {}),
});
export const groupView = ({ groupId, name, members, createdAt }: Group) => ({ groupId, name, members: [...members].sort(), createdAt });
export const environmentView = ({ environmentId, name, approval, variables, reportScriptOutput, createdAt, updatedAt }: Environment) => ({
  environmentId,
  name,
  // Always said: an item stored before signed approvals were the default has no `signed`, and is unsigned.
  approval: { ...approval, signed: approval.signed ?? false },
  variables,
  reportScriptOutput: reportScriptOutput ?? false,
  createdAt,
  updatedAt,
});
export const appView = ({ appId, name, secure, createdAt, updatedAt }: App) => ({ appId, name, secure, createdAt, updatedAt });
