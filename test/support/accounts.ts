import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { api, type ApiResponse } from './http.ts';

export type Caller = (method: string, path: string, json?: unknown) => Promise<ApiResponse>;

export const as =
  (token: string | undefined): Caller =>
  (method, path, json) =>
    api(method, path, { ...(json === undefined ? {} : { json }), headers: token ? { authorization: `Bearer ${token}` } : {} });

const expectCreated = (response: ApiResponse, what: string) => {
  expect(response.status, `${what}: ${JSON.stringify(response.body)}`).toBe(201);
  return response.body;
};

/** A fresh account with its owner, a deployer and an approver, each with their own token. */
export const newAccount = async () => {
  const suffix = randomUUID().slice(0, 8);
  const created = expectCreated(
    await api('POST', '/accounts', { json: { accountName: `Acme ${suffix}`, owner: { name: 'Olive Owner', email: `owner-${suffix}@example.com` } } }),
    'account',
  );
  const owner = as(created.token.secret);
  const person = async (role: 'deployer' | 'approver') => {
    const user = expectCreated(await owner('POST', '/users', { name: `${role} ${suffix}`, email: `${role}-${suffix}@example.com`, role }), role);
    return { user, token: user.firstToken.secret as string };
  };
  const deployer = await person('deployer');
  const approver = await person('approver');
  return {
    accountId: created.accountId as string,
    ownerId: created.ownerId as string,
    ownerToken: created.token.secret as string,
    owner,
    deployer: { ...deployer, call: as(deployer.token) },
    approver: { ...approver, call: as(approver.token) },
  };
};

