import { z } from 'zod';

export const idOf = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}_[0-9a-f]{32}$`), `must be a ${prefix}_ id (${prefix}_ + 32 hex)`);

export const accountId = idOf('acc');
export const userId = idOf('usr');
export const tokenId = idOf('tok');
export const groupId = idOf('grp');
export const environmentId = idOf('env');
export const appId = idOf('app');
export const enrolmentId = idOf('enr');

/** Printable, trimmed, bounded: names end up in emails, tables and audit events. */
export const displayName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[^\p{Cc}\p{Cf}]+$/u, 'must not contain control characters');

/** Names people type on the command line to refer to things: `prod`, `web-api`. */
export const slugName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lowercase letters, digits and dashes, starting with a letter or digit');

export const email = z.email().max(254).toLowerCase();

export const isoTime = z.string().datetime();

/** Paging on every list: an opaque cursor from the previous page. */
export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(2048).regex(/^[A-Za-z0-9_-]+$/, 'must be a cursor from a previous page').optional(),
});
export type PageQuery = z.infer<typeof pageQuery>;

export const page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().optional() });

export const emptyQuery = z.strictObject({});
