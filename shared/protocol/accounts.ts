import { z } from 'zod';
import { displayName, email } from './common.ts';

export const createAccountInput = z.strictObject({
  accountName: displayName,
  owner: z.strictObject({ name: displayName, email }),
});
export type CreateAccountInput = z.infer<typeof createAccountInput>;

export const createAccountOutput = z.object({
  accountId: z.string(),
  ownerId: z.string(),
  token: z.object({ id: z.string(), secret: z.string(), expiresAt: z.string() }),
});
export type CreateAccountOutput = z.infer<typeof createAccountOutput>;

export const healthOutput = z.object({ status: z.literal('ok'), version: z.string() });
