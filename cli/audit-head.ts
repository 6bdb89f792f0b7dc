import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { RememberedHead } from '#shared/domain/audit/history.ts';
import { accountId, isoTime } from '#shared/protocol/common.ts';
import { writePrivateFile } from './config.ts';
import { UsageError } from './errors.ts';

/**
 * The last head of the audit log this machine verified, per account, beside the config file:
 * `latchkey audit verify` checks that the log still holds it, unchanged, so a history the backend
 * rewrote behind it (and re-hashed so the chain verifies) is caught (shared/domain/audit/history.ts).
 */

const headFile = z.strictObject({
  v: z.literal(1),
  accountId,
  seq: z.number().int().min(1),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  seenAt: isoTime,
});

export const auditHeadPath = (configPath: string, account: string) => path.join(path.dirname(configPath), `audit-head.${account}.json`);

/** The head remembered for the account; undefined before the first check on this machine. */
export const readAuditHead = async (file: string, account: string): Promise<RememberedHead | undefined> => {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`Cannot read ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = headFile.safeParse(json);
  if (!parsed.success || parsed.data.accountId !== account) {
    throw new UsageError(`${file} is not a remembered audit head of account ${account}`, { hint: 'Delete it to start over from the log as it is now (and lose what it would have caught).' });
  }
  const { seq, hash, seenAt } = parsed.data;
  return { seq, hash, seenAt };
};

/**
 * Remembers `head` unless the file already holds a later one (another check ran meanwhile):
 * written whole to a 0600 temporary file in the same directory, then renamed over the old one.
 */
export const writeAuditHead = async (file: string, account: string, head: RememberedHead): Promise<boolean> => {
  const current = await readAuditHead(file, account).catch(() => undefined);
  if (current && current.seq >= head.seq) return false;
  await writePrivateFile(file, `${JSON.stringify(headFile.parse({ v: 1, accountId: account, ...head }), null, 2)}\n`);
  return true;
};
