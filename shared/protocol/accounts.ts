import { z } from 'zod';

/** Printable, trimmed, bounded: names end up in emails, tables and audit events. */
export const displayName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[^\p{Cc}\p{Cf}]+$/u, 'must not contain control characters');

export const email = z.email().max(254).toLowerCase();

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
